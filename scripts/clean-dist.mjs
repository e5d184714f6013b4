#!/usr/bin/env node
// Removes the build outputs before `tsup` (see tsup.config.ts for why tsup's own clean is off).
import { rmSync } from 'node:fs';

for (const dir of ['dist', 'packages/runtime/dist', 'packages/browser/dist', 'packages/gateway/dist']) rmSync(new URL(`../${dir}`, import.meta.url), { recursive: true, force: true });
