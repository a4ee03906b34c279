// Takes screenshots of the Aspire dashboard with a headless Chromium (the system's; playwright-core downloads nothing).
//   node shoot.mjs <dashboard login URL (with ?t=token)> <trace id to open> <output folder>
// Pages: resources, the trace list, one request's trace (API -> queue -> worker -> batch), the API's cache hit ratio,
// the worker's batch metrics, structured logs.
import { chromium } from 'playwright-core';
import { existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';

const [loginUrl, traceId, outDir] = process.argv.slice(2);
if (!loginUrl || !traceId || !outDir) {
  console.error('usage: node shoot.mjs <login-url> <trace-id> <out-dir>');
  process.exit(2);
}
const base = new URL(loginUrl).origin;
if (!['localhost', '127.0.0.1', '[::1]'].includes(new URL(loginUrl).hostname)) throw new Error('dashboard must be on loopback');
mkdirSync(outDir, { recursive: true });

const executablePath = process.env.CHROMIUM
  ?? ['/usr/bin/chromium-headless-shell', '/usr/bin/chromium'].find(existsSync);
const browser = await chromium.launch({ executablePath, args: ['--no-sandbox'] });
const page = await browser.newPage({ viewport: { width: 1600, height: 900 }, deviceScaleFactor: 1 });
page.setDefaultTimeout(30_000);

async function shot(name, settle = 1500) {
  await page.waitForLoadState('networkidle').catch(() => {});
  await page.waitForTimeout(settle);  // Blazor renders over its circuit after the load event
  const file = join(outDir, `${name}.png`);
  await page.screenshot({ path: file });
  console.log(`wrote ${file}`);
}

// The token login sets the dashboard's auth cookie; every page after that is an ordinary visit.
await page.goto(loginUrl);
await page.waitForURL(url => !url.pathname.startsWith('/login'));

await page.goto(`${base}/`);
await page.getByText('api', { exact: true }).first().waitFor();

await shot('dashboard-resources');

await page.goto(`${base}/traces`);
await page.getByText('POST /v1/embeddings').first().waitFor();
await shot('dashboard-traces');

await page.goto(`${base}/traces/detail/${traceId}`);
await page.getByText('embed batch').first().waitFor();
await shot('dashboard-trace');

// Selecting the batch span shows its attributes (batch id, size, tokens, wait, backend time) and its links.
await page.getByText('embed batch').first().click();
await shot('dashboard-trace-batch');

await page.goto(`${base}/metrics/resource/api?meter=Embedding.Api&instrument=embedding.cache.hit_ratio&duration=1&view=Graph`);
await page.getByText('embedding.cache.hit_ratio').first().waitFor();
await shot('dashboard-metrics-cache', 4000);

const worker = process.env.WORKER_RESOURCE;
if (worker) {
  await page.goto(`${base}/metrics/resource/${worker}?meter=Embedding.Worker&instrument=embedding.batch.tokens&duration=1&view=Graph`);
  await page.getByText('embedding.batch.tokens').first().waitFor();
  await shot('dashboard-metrics-batches', 4000);
}

await page.goto(`${base}/structuredlogs`);
await shot('dashboard-logs');

await browser.close();
