// What the journeys of this folder share: headless Chromium (Debian's) driven by playwright-core,
// and their checks.
import { createRequire } from 'node:module';
import path from 'node:path';

// playwright-core lives in .cache/npm/node_modules (NODE_PATH), which ES modules do not search.
const require = createRequire(path.join(process.env.NODE_PATH || '.', 'noop.js'));
const { chromium } = require('playwright-core');

export const fail = (msg) => { console.error('FAIL: ' + msg); process.exit(1); };
export const expect = (cond, msg) => { if (!cond) fail(msg); };

// A browser and a page whose console goes to stderr.
export async function open() {
  const browser = await chromium.launch({
    executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
    args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking',
           '--disable-component-update', '--disable-sync'],
  });
  const page = await browser.newPage();
  page.on('console', (m) => console.error('console: ' + m.text()));
  return { browser, page };
}
