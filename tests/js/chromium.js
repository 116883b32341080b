// Headless Chromium for the browser tests (playwright-core driving the system's /usr/bin/chromium),
// shared by browser.js and site.js. runJobs(list, viewport, visit) reads JOBS.json, named on the
// command line: {"chromium": PATH, "profile": DIR, LIST: [job, ...]}; opens one browser context on
// the fresh profile DIR (--user-data-dir) from the caller; calls visit(page, errors, job) for each
// job in a new page, `errors` collecting the page's uncaught errors; and prints the results as a
// JSON list. Any failure is printed to stderr with exit status 1.
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

async function inPage(context, visit, job) {
  const page = await context.newPage();
  const errors = [];
  page.on("pageerror", (error) => errors.push(String(error)));
  try {
    return await visit(page, errors, job);
  } finally {
    await page.close();
  }
}

async function main(list, viewport, visit) {
  const request = JSON.parse(fs.readFileSync(process.argv[2], "utf8"));
  // A persistent context is how Playwright takes a --user-data-dir.
  const context = await chromium.launchPersistentContext(request.profile, {
    executablePath: request.chromium,
    args: FLAGS,
    viewport,
    timeout: TIMEOUT_MS,
  });
  try {
    const results = [];
    for (const job of request[list]) results.push(await inPage(context, visit, job));
    process.stdout.write(JSON.stringify(results));
  } finally {
    await context.close();
  }
}

function runJobs(list, viewport, visit) {
  main(list, viewport, visit).catch((error) => {
    process.stderr.write(`${error.stack || error}\n`);
    process.exit(1);
  });
}

module.exports = { TIMEOUT_MS, runJobs };
