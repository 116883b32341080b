// Drives examples/web in headless Chromium (playwright-core, the system's /usr/bin/chromium).
// Usage: node browser.js JOBS.json
// JOBS.json: {"chromium": PATH, "profile": DIR, "jobs": [{"url": URL, "forms": [{"values":
// {POSITION: TEXT}, "files": {POSITION: PATH}, "screenshot": PATH}, ...]}, ...]}; POSITION is a
// field's position in the page's form (sensenet.json's fields). Each job loads the page and waits
// until the model is ready; then, per form, fills the form, presses Predict, waits for the result
// and keeps a screenshot. Prints, as JSON, per job {"status", "errors", "forms": [{"state",
// "result"}, ...]} ("status": the page's #status text, "result": its #result text).
const fs = require("fs");
const { chromium } = require("playwright-core");

const FLAGS = [
  "--headless",
  "--no-sandbox",
  "--disable-gpu",
  "--disable-quic",
  "--no-first-run",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
];
const TIMEOUT_MS = 60000;

async function fill(page, form) {
  for (const [position, value] of Object.entries(form.values || {})) {
    const input = page.locator(`[data-field="${position}"]`);
    if ((await input.evaluate((element) => element.tagName)) === "SELECT") {
      await input.selectOption(value);
    } else {
      await input.fill(value);
    }
  }
  for (const [position, file] of Object.entries(form.files || {})) {
    await page.locator(`[data-field="${position}"]`).setInputFiles(file);
  }
}

async function submit(page, form) {
  await fill(page, form);
  await page.click("#predict");
  await page.waitForSelector("#result[data-state=done], #result[data-state=error]", { timeout: TIMEOUT_MS });
  const state = await page.locator("#result").getAttribute("data-state");
  const result = await page.locator("#result").textContent();
  await page.screenshot({ path: form.screenshot, fullPage: true });
  await page.locator("#result").evaluate((element) => element.removeAttribute("data-state"));
  return { state, result };
}

async function run(context, job) {
  const page = await context.newPage();
  const errors = [];
  page.on("pageerror", (error) => errors.push(String(error)));
  try {
    await page.goto(job.url, { timeout: TIMEOUT_MS });
    const loaded = "#status[data-state=ready], #status[data-state=error]";
    await page.waitForSelector(loaded, { timeout: TIMEOUT_MS });
    const status = await page.locator("#status").textContent();
    const forms = [];
    if ((await page.locator("#status").getAttribute("data-state")) === "ready") {
      for (const form of job.forms) forms.push(await submit(page, form));
    }
    return { status, errors, forms };
  } finally {
    await page.close();
  }
}

async function main() {
  const request = JSON.parse(fs.readFileSync(process.argv[2], "utf8"));
  // A persistent context is how Playwright takes a --user-data-dir: a fresh one from the caller.
  const context = await chromium.launchPersistentContext(request.profile, {
    executablePath: request.chromium,
    args: FLAGS,
    viewport: { width: 1000, height: 800 },
    timeout: TIMEOUT_MS,
  });
  try {
    const results = [];
    for (const job of request.jobs) results.push(await run(context, job));
    process.stdout.write(JSON.stringify(results));
  } finally {
    await context.close();
  }
}

main().catch((error) => {
  process.stderr.write(`${error.stack || error}\n`);
  process.exit(1);
});
