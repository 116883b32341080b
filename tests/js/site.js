// Opens pages of the built documentation site in headless Chromium (chromium.js) and reports what
// rendered. Usage: node site.js JOBS.json
// JOBS.json: {"chromium": PATH, "profile": DIR, "pages": [{"url": URL, "screenshot": PATH,
// "search": TEXT or null}, ...]}. Prints, as JSON, per page {"title", "navigation": [link text],
// "searchBox": bool, "signatures": [text of each .doc-signature], "searchResults": [titles],
// "images": [{"src", "width"}], "errors": [page errors]}.
const { TIMEOUT_MS, runJobs } = require("./chromium");

async function open(page, errors, job) {
  await page.goto(job.url, { timeout: TIMEOUT_MS, waitUntil: "load" });
  const navigation = await page.locator("nav.md-nav--primary a.md-nav__link").allTextContents();
  const searchBox = (await page.locator("input.md-search__input").count()) === 1;
  const signatures = await page.locator(".doc-signature").allTextContents();
  const images = await page.locator("article img").evaluateAll((all) =>
    all.map((image) => ({ src: image.getAttribute("src"), width: image.naturalWidth })),
  );
  let searchResults = [];
  if (job.search) {
    await page.locator("input.md-search__input").click();
    await page.locator("input.md-search__input").pressSequentially(job.search);
    await page.waitForSelector(".md-search-result__item", { timeout: TIMEOUT_MS });
    searchResults = await page.locator(".md-search-result__item h1, .md-search-result__item h2").allTextContents();
  }
  await page.screenshot({ path: job.screenshot, fullPage: false });
  return { title: await page.title(), navigation, searchBox, signatures, searchResults, images, errors };
}

runJobs("pages", { width: 1280, height: 900 }, open);
