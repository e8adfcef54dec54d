// The requester's journey in headless Chromium (Debian's), driven by playwright-core:
// landing page -> face opt-out (photo, then details, with an error fixed on the way) -> success ->
// receipt email (from the outbox) -> status page -> withdrawal; then a DSA notice in Thai.
//
//   node tests/browser/journey.mjs BASE_URL OUTBOX_DIR PHOTO_FILE SCREENSHOT_DIR
import fs from 'node:fs';
import path from 'node:path';
import { expect, open } from './browser.mjs';

const [base, outbox, photo, shots] = process.argv.slice(2);
// The text/plain part of an RFC 5322 message, with its transfer encoding undone.
function textPart(eml) {
  const boundary = eml.match(/boundary="([^"]+)"/)[1];
  const part = eml.split('--' + boundary).find((p) => /content-type: text\/plain/i.test(p));
  const [headers, ...rest] = part.split('\r\n\r\n');
  const body = rest.join('\r\n\r\n');
  if (/base64/i.test(headers)) return Buffer.from(body.replace(/\s+/g, ''), 'base64').toString('utf8');
  if (/quoted-printable/i.test(headers)) {
    return Buffer.from(body.replace(/=\r?\n/g, '').replace(/=([0-9A-F]{2})/g, (_, h) => String.fromCharCode(parseInt(h, 16))), 'latin1').toString('utf8');
  }
  return body;
}
// Fills in the details form: `country` is chosen, the other fields (by id) are typed in.
async function details(page, { country, ...fields }) {
  await page.selectOption('#country', country);
  for (const [id, value] of Object.entries(fields)) await page.fill('#' + id, value);
}

const { browser, page } = await open();
try {
  await page.goto(base + '/');
  expect(await page.locator('h1').textContent() === 'Image opt-out desk', 'landing title');
  await page.click('text=Start a face opt-out');
  await page.waitForSelector('input[type=file]');

  // Step 1: the photo.
  await page.setInputFiles('input[type=file]', photo);
  await page.click('button[type=submit]');
  await page.waitForURL(/key=uploads/);
  expect((await page.textContent('main')).includes('Photo received'), 'photo received');

  // Step 2: the details, first with a wrong email and no consent.
  await details(page, { country: 'TH', first_name: 'Somchai', last_name: 'Jaidee', email: 'somchai@',
                        phone: '+66 81 234 5678', reason: 'I never agreed to my face being searchable.' });
  await page.click('button[type=submit]');
  await page.waitForSelector('#email-error');
  expect(await page.isVisible('#email-error'), 'email error shown');
  expect(await page.isVisible('#consent-error'), 'consent error shown');
  expect(await page.inputValue('#first_name') === 'Somchai', 'input kept');
  expect(await page.inputValue('#reason') === 'I never agreed to my face being searchable.', 'reason kept');
  await page.screenshot({ path: path.join(shots, 'form-errors.png'), fullPage: true });
  await page.fill('#email', 'somchai@example.org');
  await page.check('#consent');
  await page.click('button[type=submit]');
  await page.waitForSelector('#reference');
  const reference = (await page.textContent('#reference')).trim();
  expect(/^[0-9A-Z]{26}$/.test(reference), 'case reference: ' + reference);
  await page.screenshot({ path: path.join(shots, 'success.png'), fullPage: true });

  // The receipt in the outbox holds the status link.
  const emails = fs.readdirSync(outbox).filter((f) => f.endsWith('.eml'));
  expect(emails.length === 1, 'one receipt: ' + emails.length);
  const eml = fs.readFileSync(path.join(outbox, emails[0]), 'utf8');
  const link = textPart(eml).match(/(https?:\/\/[^\s"<]+\/status\/[A-Za-z0-9._-]+)/);
  expect(link, 'status link in the receipt');
  await page.goto(link[1]);
  expect(await page.getAttribute('#state', 'data-state') === 'received', 'state received');
  expect((await page.textContent('main')).includes(reference), 'reference on the status page');
  await page.check('#confirm');
  await page.click('text=Withdraw request');
  await page.waitForSelector('#state[data-state=withdrawn]');
  expect(await page.getAttribute('#state', 'data-state') === 'withdrawn', 'withdrawn');
  await page.screenshot({ path: path.join(shots, 'withdrawn.png'), fullPage: true });

  // A DSA notice in Thai: the language switch is remembered.
  await page.goto(base + '/');
  await page.click('a[lang=th]');
  await page.waitForSelector('html[lang=th]');
  await page.click('text=ส่งการแจ้ง DSA');
  await page.waitForSelector('#source_urls');
  expect(await page.getAttribute('html', 'lang') === 'th', 'Thai page');
  await details(page, { country: 'DE', first_name: 'Anna', last_name: 'Schmidt', email: 'anna@example.org',
                        phone: '+49 30 1234 5678', reason: 'These images are published without my consent.',
                        source_urls: 'https://images.example.com/a.jpg\nhttps://images.example.com/b.jpg' });
  await page.check('#good_faith');
  await page.click('button[type=submit]');
  await page.waitForSelector('#reference');
  expect((await page.textContent('h1')).includes('ได้รับคำขอแล้ว'), 'Thai success page');
  await page.screenshot({ path: path.join(shots, 'dsa-th.png'), fullPage: true });
  console.log('browser journey ok: ' + reference);
} catch (e) {
  console.error('at ' + page.url() + ': ' + e);
  try { await page.screenshot({ path: path.join(shots, 'failure.png'), fullPage: true }); } catch {}
  try { console.error((await page.content()).slice(0, 3000)); } catch {}
  process.exitCode = 1;
} finally {
  await browser.close();
}
