#!/usr/bin/env node
// A $BROWSER for the interop suite: headless Chromium (the Debian package,
// $CHROMIUM or /usr/bin/chromium) driven by puppeteer-core through the
// stack's sign-in and consent pages (stack.mjs --login-pages), as a person
// would: it types the user and password, presses Sign in, then Approve, and
// the authorization server redirects the browser to the client's loopback
// callback. `node browser.mjs <authorization URL>`; what it did goes to
// $BROWSER_LOG (one line per step), since the caller hides its output.
import fs from 'node:fs';
import puppeteer from 'puppeteer-core';

const url = process.argv[2];
const logFile = process.env.BROWSER_LOG;
const note = (line) => { if (logFile) fs.appendFileSync(logFile, `${line}\n`); };

const USER = 'interop-user';
const PASSWORD = [...USER].reverse().join('');

async function main() {
  if (!url) throw new Error('usage: browser.mjs <url>');
  const browser = await puppeteer.launch({
    executablePath: process.env.CHROMIUM ?? '/usr/bin/chromium',
    headless: true,
    args: ['--no-sandbox', '--disable-dev-shm-usage'],
  });
  try {
    const page = await browser.newPage();
    // The callback is on 127.0.0.1; note where the browser lands.
    page.on('framenavigated', (frame) => {
      if (frame === page.mainFrame()) note(`at ${new URL(frame.url()).origin}${new URL(frame.url()).pathname}`);
    });
    await page.goto(url, { waitUntil: 'domcontentloaded' });
    await page.waitForSelector('#login');
    note(`sign-in page: ${await page.title()}`);
    await page.type('#login', USER);
    await page.type('#password', PASSWORD);
    await Promise.all([page.waitForNavigation({ waitUntil: 'domcontentloaded' }), page.click('#sign-in')]);
    await page.waitForSelector('#approve');
    note(`consent page: ${await page.title()}`);
    await Promise.all([page.waitForNavigation({ waitUntil: 'domcontentloaded' }), page.click('#approve')]);
    note('approved');
  } finally {
    await browser.close();
  }
}

main().then(() => note('done'), (e) => { note(`failed: ${e.message}`); process.exit(1); });
