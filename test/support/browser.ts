/**
 * The headless Chromium the browser tests drive, found with nothing installed
 * by hand, first match wins:
 *
 * 1. `ALLOT_CHROMIUM`, the path of a Chromium or Chrome binary, when set;
 * 2. the Chromium shipped in the `@sparticuz/chromium` npm package (Linux
 *    x64), unpacked once per version and user into the temp folder, with the
 *    NSS libraries and fonts the package ships beside it;
 * 3. a system Chromium at /usr/bin/chromium.
 *
 * No browser at all is an error that says what was tried, never a skip.
 */
import { execFile } from 'node:child_process';
import { constants } from 'node:fs';
import { access, writeFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { arch, platform } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { chromium, type Browser } from 'playwright-core';
import { sharedFolder } from './shared-folder.ts';

const run = promisify(execFile);

const SYSTEM_CHROMIUM = '/usr/bin/chromium';

/** Headless, as root too, and quiet: no updates, sync or background requests (test machines may have no network). */
const ARGS = [
  '--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update',
  '--disable-sync', '--no-first-run', '--disable-quic',
];

export interface Found {
  readonly executablePath: string;
  /** Where it came from, for messages. */
  readonly source: string;
  readonly env?: Record<string, string>;
}

export async function launchChromium(): Promise<Browser> {
  const found = await findChromium();
  try {
    return await chromium.launch({
      executablePath: found.executablePath,
      args: ARGS,
      env: { ...process.env, ...found.env },
    });
  } catch (error) {
    throw new Error(`the browser tests could not launch ${found.source} (${found.executablePath})`, { cause: error });
  }
}

/** Where to look after ALLOT_CHROMIUM; tests replace them to see what happens when both are missing. */
export interface Candidates {
  readonly packaged: () => Promise<Found>;
  readonly system: string;
}

const CANDIDATES: Candidates = { packaged: packagedChromium, system: SYSTEM_CHROMIUM };

export async function findChromium(candidates: Candidates = CANDIDATES): Promise<Found> {
  const configured = process.env.ALLOT_CHROMIUM;
  if (configured) {
    if (!(await isExecutable(configured))) {
      throw new Error(`ALLOT_CHROMIUM=${configured} is not an executable file`);
    }
    return { executablePath: configured, source: 'the Chromium named by ALLOT_CHROMIUM' };
  }
  const tried: string[] = [];
  try {
    return await candidates.packaged();
  } catch (error) {
    tried.push(`@sparticuz/chromium: ${(error as Error).message}`);
  }
  if (await isExecutable(candidates.system)) return { executablePath: candidates.system, source: 'the system Chromium' };
  tried.push(`${candidates.system}: not found`);
  throw new Error(
    `no Chromium for the browser tests. Tried:\n  ${tried.join('\n  ')}\n` +
      'Run npm ci (it installs @sparticuz/chromium), or set ALLOT_CHROMIUM to a Chromium binary.',
  );
}

async function packagedChromium(): Promise<Found> {
  if (platform() !== 'linux' || arch() !== 'x64') throw new Error(`ships no binary for ${platform()}-${arch()}`);
  let entry: string;
  try {
    entry = createRequire(import.meta.url).resolve('@sparticuz/chromium');
  } catch {
    throw new Error('not installed');
  }
  const packageDir = resolve(dirname(entry), '..', '..');
  const { version } = createRequire(import.meta.url)(join(packageDir, 'package.json')) as { version: string };
  // One per user too: each runs the browser from a folder only they can change.
  const home = await sharedFolder(`allot-chromium-${version}-${process.getuid?.() ?? 'user'}`, async (staging, home) => {
    await unpack(entry, staging);
    await writeFile(join(staging, 'fonts.conf'), fontsConf(home));
  });
  const libraries = [join(home, 'al2023', 'lib'), process.env.LD_LIBRARY_PATH].filter(Boolean).join(':');
  return {
    executablePath: join(home, 'chromium'),
    source: `the Chromium of @sparticuz/chromium ${version}`,
    env: { LD_LIBRARY_PATH: libraries, FONTCONFIG_FILE: join(home, 'fonts.conf') },
  };
}

/**
 * The package's own executablePath() unpacks the browser into the temp dir:
 * run it in a child whose temp dir is the staging folder. The Lambda runtime
 * name makes it unpack the NSS libraries it ships too, so the browser needs
 * none from the system.
 */
async function unpack(entry: string, staging: string): Promise<void> {
  const script = 'require(process.argv[1]).executablePath().then((path) => console.log(path))';
  const { stdout } = await run(process.execPath, ['-e', script, entry], {
    env: { ...process.env, TMPDIR: staging, AWS_EXECUTION_ENV: 'AWS_Lambda_nodejs20.x' },
  });
  if (stdout.trim() !== join(staging, 'chromium')) throw new Error(`unpacked to ${stdout.trim()}, not ${staging}`);
}

/** The package's Open Sans first, then whatever fonts the system has; the cache stays in the folder. */
function fontsConf(home: string): string {
  return `<?xml version="1.0"?>
<!DOCTYPE fontconfig SYSTEM "fonts.dtd">
<fontconfig>
  <dir>${home}/fonts</dir>
  <dir>/usr/share/fonts</dir>
  <dir>/usr/local/share/fonts</dir>
  <cachedir>${home}/fonts-cache</cachedir>
</fontconfig>
`;
}

async function isExecutable(path: string): Promise<boolean> {
  return access(path, constants.X_OK).then(
    () => true,
    () => false,
  );
}
