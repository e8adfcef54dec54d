// The public pages on a phone (390×844) and a laptop (1280×900), in headless Chromium (Debian's)
// driven by playwright-core: no page is wider than the viewport, and a form sent with mistakes
// says where each one is (an error summary focused on load that links to every invalid field,
// each marked aria-invalid and described by its error). Then the forms as people fill them: the
// three forms in both steps, in English and Thai, the language links that keep the photo,
// a notice's bad link named by its line, the complaint form and the withdrawal's confirmation.
//
//   node tests/browser/phone.mjs BASE_URL PHOTO_FILE PAGES_JSON SCREENSHOT_DIR
//
// PAGES_JSON: [[name, path], ...], the pages the test made (status pages in every state ...).
import path from 'node:path';
import { expect, fail, open } from './browser.mjs';

const [base, photo, pagesJson, shots] = process.argv.slice(2);
const PHONE = { width: 390, height: 844 };
const LAPTOP = { width: 1280, height: 900 };
const VIEWPORTS = [['phone', PHONE], ['laptop', LAPTOP]];

// No horizontal scrolling: the page is no wider than the viewport.
async function fits(page, what) {
  const [wide, viewport] = await page.evaluate(() => [document.documentElement.scrollWidth, window.innerWidth]);
  expect(wide <= viewport, `${what}: ${wide}px wide in a ${viewport}px viewport`);
}

// Checks a page that is both viewports wide enough, with a screenshot of the phone's.
async function fitsBoth(page, name) {
  for (const [label, size] of VIEWPORTS) {
    await page.setViewportSize(size);
    await fits(page, `${name} (${label})`);
  }
  await page.setViewportSize(PHONE);
}

// Every problem of a re-rendered form is said where it is.
async function errorsExplained(page, what) {
  const problems = await page.evaluate(() => {
    const out = [];
    const summary = document.getElementById('error-summary');
    if (!summary) return ['no error summary'];
    const invalid = [...document.querySelectorAll('[aria-invalid="true"]')];
    if (!invalid.length) out.push('no field is marked aria-invalid');
    for (const el of invalid) {
      const ids = (el.getAttribute('aria-describedby') || '').split(/\s+/).filter(Boolean);
      if (ids.some((id) => !document.getElementById(id))) out.push(`#${el.id}: aria-describedby names a missing element`);
      const error = document.getElementById(ids[0] || '-');
      if (!error || ids[0] !== el.id + '-error' || !error.textContent.trim()) out.push(`#${el.id}: not described by its error`);
      if (!summary.querySelector(`a[href="#${el.id}"]`)) out.push(`#${el.id}: not linked from the error summary`);
    }
    for (const error of document.querySelectorAll('.error[id$="-error"]')) {
      const field = document.getElementById(error.id.slice(0, -'-error'.length));
      if (!field) out.push(`#${error.id}: no field of that name`);
      else if (field.tagName !== 'A' && field.getAttribute('aria-invalid') !== 'true') out.push(`#${field.id}: shows an error, not aria-invalid`);
    }
    for (const a of summary.querySelectorAll('a')) {
      if (!document.querySelector(a.getAttribute('href'))) out.push(`summary link ${a.getAttribute('href')}: no such field`);
      if (!a.textContent.trim()) out.push(`summary link ${a.getAttribute('href')}: no text`);
    }
    if (document.activeElement !== summary) out.push(`focus is on ${document.activeElement?.tagName}#${document.activeElement?.id}, not the summary`);
    return out;
  });
  expect(!problems.length, `${what}: ${problems.join('; ')}`);
  await fitsBoth(page, what);
}

// The summary's messages (each a link to its field).
const summaryLinks = (page) => page.locator('#error-summary a').evaluateAll((as) => as.map((a) => [a.getAttribute('href'), a.textContent]));

async function submit(page) {
  await Promise.all([page.waitForLoadState('load'), page.click('form button[type=submit]')]);
  await page.waitForSelector('main');
}

const { browser, page } = await open();
await page.setViewportSize(PHONE);
try {
  // The pages the test made, and the message pages, in both languages.
  const pages = JSON.parse(pagesJson).concat([['invalid-link', '/status/not-a-token'], ['not-found', '/nowhere']]);
  for (const [name, p] of [['landing', '/'], ...pages]) {
    for (const lang of ['en', 'th']) {
      await page.goto(base + p + (p.includes('?') ? '&' : '?') + 'lang=' + lang);
      expect(await page.getAttribute('html', 'lang') === lang, `${name} in ${lang}`);
      expect(await page.locator('a.skip[href="#main"]').count() === 1 && await page.locator('main#main').count() === 1, `${name}: skip link`);
      await fitsBoth(page, `${name} (${lang})`);
      if (lang === 'en') await page.screenshot({ path: path.join(shots, `phone-${name}.png`), fullPage: true });
    }
  }
  // A rejected case's long statement of reasons reads down the phone's screen, not in a narrow column.
  const rejected = pages.find(([n]) => n === 'status-rejected');
  await page.goto(base + rejected[1] + '?lang=en');
  const height = await page.evaluate(() => document.documentElement.scrollHeight);
  expect(height < 3000, `the rejected case's page is ${height}px tall on a phone`);
  const [dt, dd] = await page.evaluate(() => ['#decision dt', '#decision dd'].map((s) => document.querySelector(s).getBoundingClientRect().left));
  expect(dt === dd, 'the decision\'s labels stand above their values on a phone');
  await page.setViewportSize(LAPTOP);
  const [dt2, dd2] = await page.evaluate(() => ['#decision dt', '#decision dd'].map((s) => document.querySelector(s).getBoundingClientRect().left));
  expect(dd2 > dt2, 'and beside them on a laptop');
  await page.setViewportSize(PHONE);

  // Skip link: the first tab stop, and it leads to the main content.
  await page.goto(base + '/?lang=en');
  await page.keyboard.press('Tab');
  expect(await page.evaluate(() => document.activeElement.classList.contains('skip')), 'the skip link is the first tab stop');
  await fits(page, 'landing with the skip link shown');
  await page.keyboard.press('Enter');
  expect(await page.evaluate(() => document.activeElement.id) === 'main', 'the skip link moves to the main content');

  // The two opt-outs: the photo step, then the details, sent empty.
  for (const [form, lang] of [['/opt-out', 'en'], ['/image-opt-out', 'th']]) {
    await page.goto(base + form + '?lang=' + lang);
    await fitsBoth(page, `${form} step 1 (${lang})`);
    await page.setInputFiles('input[type=file]', photo);
    await page.click('button[type=submit]');
    await page.waitForURL(/key=uploads/);
    await fitsBoth(page, `${form} step 2 (${lang})`);
    await submit(page);
    await errorsExplained(page, `${form} sent empty (${lang})`);
    const links = await summaryLinks(page);
    for (const id of ['#country', '#first_name', '#last_name', '#email', '#reason', '#consent']) {
      expect(links.some(([href]) => href === id), `${form}: the summary links to ${id}: ${JSON.stringify(links)}`);
    }
    const firstName = links.find(([href]) => href === '#first_name')[1];
    expect(firstName === (lang === 'en' ? 'Enter your first name.' : 'โปรดกรอกชื่อของคุณ'), `the message names the field: ${firstName}`);
    await page.screenshot({ path: path.join(shots, `phone-errors${form.replace('/', '-')}-${lang}.png`), fullPage: true });
    await page.click('#error-summary a[href="#email"]');
    expect(await page.evaluate(() => location.hash) === '#email', 'a summary link leads to its field');
  }

  // Step 2 of a face opt-out: the language links keep the photo (a link cannot carry what was
  // typed: it is filled in again).
  await page.goto(base + '/opt-out?lang=en');
  await page.setInputFiles('input[type=file]', photo);
  await page.click('button[type=submit]');
  await page.waitForURL(/key=uploads/);
  const key = await page.inputValue('input[name=upload_key]');
  await page.click('nav.lang a[lang=th]');
  await page.waitForSelector('html[lang=th]');
  expect(await page.inputValue('input[name=upload_key]') === key, 'the photo is kept');
  expect(await page.locator('#error-summary').count() === 0, 'a switch is not a submission');
  await fitsBoth(page, 'step 2 after the switch');
  await submit(page);
  await errorsExplained(page, 'step 2 sent empty in Thai');
  await page.click('nav.lang a[lang=en]');
  await page.waitForSelector('html[lang=en]');
  expect(await page.inputValue('input[name=upload_key]') === key, 'the photo is kept after a mistake too');
  await page.click('nav.lang a[lang=th]');
  await page.waitForSelector('html[lang=th]');
  await page.selectOption('#country', 'TH');
  await page.fill('#first_name', 'Somchai');
  await page.fill('#reason', 'I never agreed to my face being searchable.');
  // Finished in Thai, it goes through.
  await page.fill('#last_name', 'Jaidee');
  await page.fill('#email', 'somchai@example.org');
  await page.fill('#phone', '081 234 5678');
  await page.check('#consent');
  await submit(page);
  await page.waitForSelector('#reference');
  await fitsBoth(page, 'success (th)');

  // A DSA notice with bad links: each named by its line.
  for (const lang of ['en', 'th']) {
    await page.goto(base + '/dsa?lang=' + lang);
    await fitsBoth(page, `/dsa (${lang})`);
    await page.selectOption('#country', 'DE');
    await page.fill('#first_name', 'Anna');
    await page.fill('#source_urls', 'www.example.com/a.jpg\nnot a link\nhttps://images.example.com/' + 'verylongpath'.repeat(20) + '.jpg\nftp://example.com/b.jpg');
    await submit(page);
    await errorsExplained(page, `/dsa sent with bad links (${lang})`);
    const error = await page.textContent('#source_urls-error');
    const said = lang === 'en' ? ['Link 2 (not a link)', 'Link 4 (ftp://example.com/b.jpg)'] : ['ลิงก์ที่ 2 (not a link)', 'ลิงก์ที่ 4 (ftp://example.com/b.jpg)'];
    for (const s of said) expect(error.includes(s), `${s} missing from: ${error}`);
    expect(!/(Link|ลิงก์ที่) 1 /.test(error), 'a link typed without https:// is read with it: ' + error);
    const links = await summaryLinks(page);
    expect(links.filter(([href]) => href === '#source_urls').length === 2, 'each bad link in the summary: ' + JSON.stringify(links));
    await page.screenshot({ path: path.join(shots, `phone-errors-dsa-${lang}.png`), fullPage: true });
  }

  // The complaint form and the withdrawal's confirmation, sent empty.
  const complaint = pages.find(([n]) => n === 'complaint');
  for (const lang of ['en', 'th']) {
    await page.goto(base + complaint[1] + '?lang=' + lang);
    await page.fill('#complaint', 'x');
    await page.fill('#complaint', '');
    await submit(page);
    await errorsExplained(page, `complaint sent empty (${lang})`);
  }
  const status = pages.find(([n]) => n === 'status-awaiting-review');
  await page.goto(base + status[1] + '?lang=th');
  await page.click('form[action$="/withdraw"] button[type=submit]');
  await page.waitForSelector('#error-summary');
  await errorsExplained(page, 'withdrawal without its confirmation (th)');
  expect((await page.textContent('#confirm-error')).includes('ถอนคำขอนี้'), 'the confirmation is named');

  console.log('phone journey ok');
} catch (e) {
  await page.screenshot({ path: path.join(shots, 'phone-failure.png'), fullPage: true }).catch(() => {});
  fail(`at ${page.url()}: ${e.stack || e}`);
} finally {
  await browser.close();
}
