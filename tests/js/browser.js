// Drives examples/web in headless Chromium (chromium.js). Usage: node browser.js JOBS.json
// JOBS.json: {"chromium": PATH, "profile": DIR, "jobs": [{"url": URL, "forms": [{"values":
// {POSITION: TEXT}, "files": {POSITION: PATH}, "screenshot": PATH}, ...]}, ...]}; POSITION is a
// field's position in the page's form (sensenet.json's fields). Each job loads the page and waits
// until the model is ready; then, per form, fills the form, presses Predict, waits for the result
// and keeps a screenshot. Prints, as JSON, per job {"status", "errors", "forms": [{"state",
// "result"}, ...]} ("status": the page's #status text, "result": its #result text).
const { TIMEOUT_MS, runJobs } = require("./chromium");

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

async function run(page, errors, job) {
  await page.goto(job.url, { timeout: TIMEOUT_MS });
  const loaded = "#status[data-state=ready], #status[data-state=error]";
  await page.waitForSelector(loaded, { timeout: TIMEOUT_MS });
  const status = await page.locator("#status").textContent();
  const forms = [];
  if ((await page.locator("#status").getAttribute("data-state")) === "ready") {
    for (const form of job.forms) forms.push(await submit(page, form));
  }
  return { status, errors, forms };
}

runJobs("jobs", { width: 1000, height: 800 }, run);
