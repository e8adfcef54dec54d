// The new kinds of request in headless Chromium (Debian's), driven by playwright-core:
// an image opt-out in Thai (a picture without a face, its faces not excluded), then a DSA notice
// in English whose first link serves an image and whose second serves a web page; the reviewer
// sees which link's image was fetched and hashed, approves both, and the exclusion entries follow.
//
//   node tests/browser/kinds.mjs BASE_URL ADMIN_LINK PICTURE_FILE IMAGE_URL PAGE_URL SCREENSHOT_DIR
import path from 'node:path';
import { expect, fail, open } from './browser.mjs';

const [base, adminLink, picture, imageUrl, pageUrl, shots] = process.argv.slice(2);
async function details(page, { country, ...fields }) {
  await page.selectOption('#country', country);
  for (const [id, value] of Object.entries(fields)) await page.fill('#' + id, value);
}
// Opens case `id` on the review desk until `ready` holds (the worker runs in the background).
async function reviewCase(page, id, ready) {
  for (let i = 0; i < 60; i++) {
    await page.goto(base + '/admin/cases/' + id);
    if (await ready()) return;
    await page.waitForTimeout(500);
  }
  fail('case ' + id + ' never became ready for review');
}

const { browser, page } = await open();
try {
  // An image opt-out, in Thai.
  await page.goto(base + '/');
  await page.click('a[lang=th]');
  await page.waitForSelector('html[lang=th]');
  await page.click('text=เริ่มคำขอหยุดจัดทำดัชนีรูปภาพ');
  await page.waitForSelector('input[type=file]');
  expect((await page.textContent('h1')).includes('คำขอหยุดจัดทำดัชนีรูปภาพ'), 'Thai image form');
  expect(await page.isVisible('#scope-notice'), 'the scope notice on the form');
  await page.setInputFiles('input[type=file]', picture);
  await page.click('button[type=submit]');
  await page.waitForURL(/image-opt-out\?.*key=uploads/);
  expect(await page.isVisible('#exclude_faces'), 'the choice to exclude its faces');
  expect(!(await page.isChecked('#exclude_faces')), 'faces not excluded unless asked');
  await details(page, { country: 'TH', first_name: 'สมชาย', last_name: 'ใจดี', email: 'somchai@example.org',
                        phone: '+66 81 234 5678', reason: 'ฉันเป็นผู้ถ่ายภาพนี้และเป็นเจ้าของลิขสิทธิ์' });
  await page.check('#consent');
  await page.screenshot({ path: path.join(shots, 'image-th-details.png'), fullPage: true });
  await page.click('button[type=submit]');
  await page.waitForSelector('#reference');
  const imageCase = (await page.textContent('#reference')).trim();
  expect((await page.textContent('main')).includes('คำนวณค่าแฮชของรูปภาพ'), 'Thai next steps of an image opt-out');
  expect(await page.isVisible('#scope-notice'), 'the scope notice on the success page');
  await page.screenshot({ path: path.join(shots, 'image-th-success.png'), fullPage: true });

  // A DSA notice in English whose links are fetched.
  await page.goto(base + '/?lang=en');
  await page.click('text=Send a DSA notice');
  await page.waitForSelector('#source_urls');
  await details(page, { country: 'DE', first_name: 'Anna', last_name: 'Schmidt', email: 'anna@example.org',
                        phone: '+49 30 1234 5678', reason: 'These images show me and are published without my consent.',
                        source_urls: imageUrl + '\n' + pageUrl });
  await page.check('#good_faith');
  await page.click('button[type=submit]');
  await page.waitForSelector('#reference');
  const dsaCase = (await page.textContent('#reference')).trim();

  // The reviewer: the notice's links, one image fetched, one not; approve.
  await page.goto(adminLink);
  expect(new URL(page.url()).pathname === '/admin', 'the admin link leads to the queue');
  await reviewCase(page, dsaCase, async () => (await page.locator('#state').getAttribute('data-state')) === 'awaiting_review');
  expect(await page.locator('#urls .link-ok').count() === 1, 'one image fetched and hashed');
  expect(await page.locator('#urls .link-failed').count() === 1, 'one link whose image could not be fetched');
  expect((await page.textContent('#urls .link-failed')).includes('not an image'), 'why the page was not hashed');
  await page.screenshot({ path: path.join(shots, 'dsa-links-review.png'), fullPage: true });
  await page.check('#approve-confirm');
  await page.click('#approve button[type=submit]');
  await page.waitForSelector('#done');
  const kinds = await page.locator('#entries tbody tr td:nth-child(3)').allTextContents();
  expect(kinds.filter((k) => k.startsWith('url')).length === 2, 'both links excluded by address: ' + kinds);
  expect(kinds.includes('sha256') && kinds.includes('pdq'), 'the fetched image excluded by its hashes: ' + kinds);

  // The image opt-out: its hashes only.
  await reviewCase(page, imageCase, async () => (await page.locator('#state').getAttribute('data-state')) === 'awaiting_review');
  expect((await page.textContent('#exclude-faces')).includes('not to be excluded'), 'the requester did not ask for faces');
  await page.check('#approve-confirm');
  await page.click('#approve button[type=submit]');
  await page.waitForSelector('#done');
  const imageKinds = (await page.locator('#entries tbody tr td:nth-child(3)').allTextContents()).sort();
  expect(JSON.stringify(imageKinds) === '["pdq","sha256"]', 'image opt-out entries: ' + imageKinds);
  await page.screenshot({ path: path.join(shots, 'image-decided.png'), fullPage: true });
  console.log('kinds journey ok');
} catch (e) {
  await page.screenshot({ path: path.join(shots, 'kinds-failure.png'), fullPage: true }).catch(() => {});
  fail(e.stack || String(e));
} finally {
  await browser.close();
}
