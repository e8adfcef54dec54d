// The requester's journey in headless Chromium (Debian's), driven by playwright-core:
// landing page -> face opt-out (photo, then details, with an error fixed on the way) -> success ->
// receipt email (from the outbox) -> status page -> withdrawal; then a DSA notice in Thai.
//
//   node tests/browser/journey.mjs BASE_URL OUTBOX_DIR PHOTO_FILE SCREENSHOT_DIR
import { createRequire } from 'node:module';
import fs from 'node:fs';
import path from 'node:path';

// playwright-core lives in .cache/npm/node_modules (NODE_PATH), which ES modules do not search.
const require = createRequire(path.join(process.env.NODE_PATH || '.', 'noop.js'));
const { chromium } = require('playwright-core');

const [base, outbox, photo, shots] = process.argv.slice(2);
const fail = (msg) => { console.error('FAIL: ' + msg); process.exit(1); };
const expect = (cond, msg) => { if (!cond) fail(msg); };

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
  args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking',
         '--disable-component-update', '--disable-sync'],
});
try {
  const page = await browser.newPage();
  await page.goto(base + '/');
  expect(await page.locator('h1').textContent() === 'Image opt-out desk', 'landing title');
  await page.click('text=Start a face opt-out');

  // Step 1: the photo.
  await page.setInputFiles('input[type=file]', photo);
  await Promise.all([page.waitForNavigation(), page.click('button[type=submit]')]);
  expect(page.url().includes('key=uploads'), 'back from the upload with the key: ' + page.url());
  expect((await page.textContent('main')).includes('Photo received'), 'photo received');

  // Step 2: the details, first with a wrong email and no consent.
  await page.selectOption('#country', 'TH');
  await page.fill('#first_name', 'Somchai');
  await page.fill('#last_name', 'Jaidee');
  await page.fill('#email', 'somchai@');
  await page.fill('#phone', '+66 81 234 5678');
  await page.fill('#reason', 'I never agreed to my face being searchable.');
  await Promise.all([page.waitForNavigation(), page.click('button[type=submit]')]);
  expect(await page.isVisible('#email-error'), 'email error shown');
  expect(await page.isVisible('#consent-error'), 'consent error shown');
  expect(await page.inputValue('#first_name') === 'Somchai', 'input kept');
  expect(await page.inputValue('#reason') === 'I never agreed to my face being searchable.', 'reason kept');
  await page.screenshot({ path: path.join(shots, 'form-errors.png'), fullPage: true });
  await page.fill('#email', 'somchai@example.org');
  await page.check('#consent');
  await Promise.all([page.waitForNavigation(), page.click('button[type=submit]')]);
  const reference = (await page.textContent('#reference')).trim();
  expect(/^[0-9A-Z]{26}$/.test(reference), 'case reference: ' + reference);
  await page.screenshot({ path: path.join(shots, 'success.png'), fullPage: true });

  // The receipt in the outbox holds the status link.
  const emails = fs.readdirSync(outbox).filter((f) => f.endsWith('.eml'));
  expect(emails.length === 1, 'one receipt: ' + emails.length);
  const eml = fs.readFileSync(path.join(outbox, emails[0]), 'utf8');
  const link = eml.match(/(https?:\/\/[^\s"<]+\/status\/[A-Za-z0-9._-]+)/);
  expect(link, 'status link in the receipt');
  await page.goto(link[1]);
  expect(await page.getAttribute('#state', 'data-state') === 'received', 'state received');
  expect((await page.textContent('main')).includes(reference), 'reference on the status page');
  await page.check('#confirm');
  await Promise.all([page.waitForNavigation(), page.click('text=Withdraw request')]);
  expect(await page.getAttribute('#state', 'data-state') === 'withdrawn', 'withdrawn');
  await page.screenshot({ path: path.join(shots, 'withdrawn.png'), fullPage: true });

  // A DSA notice in Thai: the language switch is remembered.
  await page.goto(base + '/');
  await page.click('a[lang=th]');
  await page.click('text=ส่งการแจ้ง DSA');
  expect(await page.getAttribute('html', 'lang') === 'th', 'Thai page');
  await page.selectOption('#country', 'DE');
  await page.fill('#first_name', 'Anna');
  await page.fill('#last_name', 'Schmidt');
  await page.fill('#email', 'anna@example.org');
  await page.fill('#phone', '+49 30 1234 5678');
  await page.fill('#source_urls', 'https://images.example.com/a.jpg\nhttps://images.example.com/b.jpg');
  await page.fill('#reason', 'These images are published without my consent.');
  await page.check('#good_faith');
  await Promise.all([page.waitForNavigation(), page.click('button[type=submit]')]);
  expect((await page.textContent('h1')).includes('ได้รับคำขอแล้ว'), 'Thai success page');
  await page.screenshot({ path: path.join(shots, 'dsa-th.png'), fullPage: true });
  console.log('browser journey ok: ' + reference);
} finally {
  await browser.close();
}
