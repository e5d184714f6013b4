// The "learn normal" demo (examples/learn) end to end in headless Chromium with a fake camera:
// record → train → score the live camera; "Download model" gives a zip whose folder
// `ganomaly score --model` loads unchanged. Screenshots of the three states go to
// $GANOMALY_SCREENSHOTS (the committed ones in docs/ come from there) or a temp folder.
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { chromium, type BrowserContext, type Page } from 'playwright-core';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { testImage } from '../helpers/make-model.js';
import { startWebServer, type WebServer } from '../helpers/serve-web.js';
import { CHROMIUM, CHROMIUM_FLAGS, FAKE_CAMERA_FLAGS } from '../helpers/chromium.js';

const REQUIRED = process.env.GANOMALY_REQUIRE_BROWSER === '1';
const HAVE_CHROMIUM = existsSync(CHROMIUM);
const CLI = resolve('dist/cli/index.js');
const FLAGS = [...CHROMIUM_FLAGS, ...FAKE_CAMERA_FLAGS];

describe.skipIf((!HAVE_CHROMIUM || !existsSync(CLI)) && !REQUIRED)('learn-normal demo (headless Chromium, fake camera)', () => {
  let server: WebServer;
  let context: BrowserContext;
  let page: Page;
  let work: string;
  let shots: string;
  const errors: string[] = [];

  beforeAll(async () => {
    if (!HAVE_CHROMIUM) throw new Error(`GANOMALY_REQUIRE_BROWSER=1 but ${CHROMIUM} is missing`);
    if (!existsSync(CLI)) throw new Error('dist/ is not built: run `npm run build` (npm test does it first)');
    work = await mkdtemp(join(tmpdir(), 'ganomaly-learn-'));
    shots = process.env.GANOMALY_SCREENSHOTS ? resolve(process.env.GANOMALY_SCREENSHOTS) : join(work, 'shots');
    await mkdir(shots, { recursive: true });
    server = await startWebServer({});
    context = await chromium.launchPersistentContext(join(work, 'profile'), {
      executablePath: CHROMIUM, headless: true, args: FLAGS, acceptDownloads: true, viewport: { width: 1100, height: 900 },
    });
    page = context.pages()[0] ?? (await context.newPage());
    page.on('pageerror', (e) => errors.push(e.message));
  }, 120_000);

  afterAll(async () => {
    await context?.close();
    await server?.close();
    if (work) await rm(work, { recursive: true, force: true });
  });

  it('records, trains with progress, scores the camera, and downloads a model the CLI scores with', async () => {
    await page.goto(`${server.url}learn/?frames=48&epochs=4&ngf=8&batch=8`);
    await page.click('#camera');
    await page.waitForFunction(() => !(document.getElementById('grab') as HTMLButtonElement).disabled, null, { timeout: 20_000 });
    await page.click('#grab');
    await page.waitForFunction(() => (window as any).learn.frames.length === 48, null, { timeout: 30_000 });
    await page.screenshot({ path: join(shots, 'learn-1-record.png') });

    await page.click('#start');
    await page.waitForFunction(() => ((window as any).learn.progress?.step ?? 0) >= 2 || (window as any).learn.error, null, { timeout: 60_000 });
    await page.screenshot({ path: join(shots, 'learn-2-train.png') });
    await page.waitForFunction(() => ((window as any).learn.last?.frames ?? 0) >= 3 || (window as any).learn.error, null, { timeout: 120_000 });
    const st = await page.evaluate(() => ({ error: (window as any).learn.error, last: (window as any).learn.last, progress: (window as any).learn.progress, stage: (window as any).learn.stage }));
    expect(st.error).toBeNull();
    expect(errors).toEqual([]);
    expect(st.stage).toBe('scoring');
    expect(st.progress).toMatchObject({ epoch: 4, epochs: 4 });
    expect(Number.isFinite(st.last.score)).toBe(true);
    expect(await page.textContent('#verdict')).toMatch(/^(normal|ANOMALY)$/);
    await page.screenshot({ path: join(shots, 'learn-3-score.png') });

    const [download] = await Promise.all([page.waitForEvent('download'), page.click('#download')]);
    const zip = join(work, 'model.zip');
    await download.saveAs(zip);
    const unzip = spawnSync('/usr/bin/python3', ['-c', 'import sys, zipfile; zipfile.ZipFile(sys.argv[1]).extractall(sys.argv[2])', zip, join(work, 'model')], { encoding: 'utf8' });
    expect(unzip.status, unzip.stderr).toBe(0);
    const img = testImage(40, 40, 3, 9);
    const png = join(work, 'frame.png');
    await sharp(Buffer.from(img.data), { raw: { width: 40, height: 40, channels: 3 } }).png().toFile(png);
    for (const precision of ['fp32', 'int8']) {
      const r = spawnSync(process.execPath, [CLI, 'score', '--model', join(work, 'model', 'learned-normal'), '--providers', 'cpu', '--json', '--quiet', '--precision', precision, png], { encoding: 'utf8' });
      expect(r.status, r.stderr).toBe(0);
      const line = JSON.parse(r.stdout.trim().split('\n')[0]!) as { score: number };
      expect(Number.isFinite(line.score)).toBe(true);
    }
    console.log(`learn demo screenshots: ${shots}`);
  }, 240_000);
});
