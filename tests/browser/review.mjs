// The reviewer's journey in headless Chromium (Debian's), driven by playwright-core: admin link ->
// queue -> case page (photo with the face overlay) -> approve -> decided case (photo gone).
//
//   node tests/browser/review.mjs ADMIN_LINK CASE_ID SCREENSHOT_DIR
import path from 'node:path';
import { expect, fail, open } from './browser.mjs';

const [link, caseId, shots] = process.argv.slice(2);
const { browser, page } = await open();
try {
  await page.goto(link);
  expect(new URL(page.url()).pathname === '/admin', 'the link leads to the queue: ' + page.url());
  expect(await page.locator('h1').textContent() === 'Queue', 'queue title');
  expect((await page.locator('#reviewer').textContent()).includes('carol'), 'reviewer shown');
  await page.screenshot({ path: path.join(shots, 'review-1-queue.png'), fullPage: true });
  await page.click(`a[href="/admin/cases/${caseId}"]`);
  await page.waitForSelector('#case-id');
  expect(await page.locator('#state').getAttribute('data-state') === 'awaiting_review', 'awaiting review');
  await page.waitForFunction(() => { const i = document.querySelector('#photo'); return i && i.complete && i.naturalWidth > 0; });
  expect(await page.locator('#photo').evaluate((i) => i.naturalWidth) === 800, 'the photo is shown through the proxy');
  expect(await page.locator('#overlay rect.face').count() === 1, 'one face box');
  expect(await page.locator('#overlay circle.landmark').count() === 5, 'five landmarks');
  await page.screenshot({ path: path.join(shots, 'review-2-case.png'), fullPage: true });
  // A decision waits for its confirmation (the browser asks for the box).
  await page.click('#approve button[type=submit]');
  expect(await page.locator('#done').count() === 0, 'no decision without its confirmation');
  expect(await page.locator('#state').getAttribute('data-state') === 'awaiting_review', 'still awaiting review');
  await page.check('#approve-confirm');
  await page.click('#approve button[type=submit]');
  await page.waitForSelector('#done');
  expect(await page.locator('#state').getAttribute('data-state') === 'approved', 'approved');
  expect(await page.locator('#entries tbody tr').count() === 3, 'three exclusion entries');
  expect(await page.locator('#photo-gone').count() === 1, 'the photo is deleted');
  await page.screenshot({ path: path.join(shots, 'review-3-decided.png'), fullPage: true });
  console.log('review journey ok');
} catch (e) {
  await page.screenshot({ path: path.join(shots, 'review-failure.png'), fullPage: true }).catch(() => {});
  fail(e.stack || String(e));
} finally {
  await browser.close();
}
