import assert from 'node:assert/strict';
import { test } from 'node:test';
import { findChromium, launchChromium } from '../support/browser.ts';

/** Runs `body` with ALLOT_CHROMIUM set to `value` (or unset), then puts it back. */
async function withAllotChromium<T>(value: string | undefined, body: () => Promise<T>): Promise<T> {
  const before = process.env.ALLOT_CHROMIUM;
  if (value === undefined) delete process.env.ALLOT_CHROMIUM;
  else process.env.ALLOT_CHROMIUM = value;
  try {
    return await body();
  } finally {
    if (before === undefined) delete process.env.ALLOT_CHROMIUM;
    else process.env.ALLOT_CHROMIUM = before;
  }
}

test('browser: a Chromium is found and launched with nothing installed by hand', async () => {
  const found = await withAllotChromium(undefined, () => findChromium());
  const browser = await withAllotChromium(found.executablePath, () => launchChromium());
  try {
    assert.match(browser.version(), /^\d+\./);
    const page = await browser.newPage();
    await page.setContent('<p id="p">allot</p>');
    assert.equal(await page.locator('#p').innerText(), 'allot');
  } finally {
    await browser.close();
  }
});

test('browser: ALLOT_CHROMIUM comes first, and one that names no program is an error', async () => {
  const found = await withAllotChromium(undefined, () => findChromium());
  const chosen = await withAllotChromium(found.executablePath, () =>
    findChromium({ packaged: () => Promise.reject(new Error('not wanted')), system: '/nonexistent/chromium' }),
  );
  assert.equal(chosen.executablePath, found.executablePath);
  assert.match(chosen.source, /ALLOT_CHROMIUM/);
  await withAllotChromium('/nonexistent/chromium', () =>
    assert.rejects(findChromium(), /ALLOT_CHROMIUM=\/nonexistent\/chromium is not an executable file/),
  );
});

test('browser: with no browser at all, the run fails and says what was tried', async () => {
  await withAllotChromium(undefined, () =>
    assert.rejects(
      findChromium({ packaged: () => Promise.reject(new Error('not installed')), system: '/nonexistent/chromium' }),
      (error: Error) => {
        assert.match(error.message, /no Chromium for the browser tests/);
        assert.match(error.message, /@sparticuz\/chromium: not installed/);
        assert.match(error.message, /\/nonexistent\/chromium: not found/);
        assert.match(error.message, /ALLOT_CHROMIUM/);
        return true;
      },
    ),
  );
});
