#!/usr/bin/env node
// allot ships TypeScript sources and runs them through tsx's loader: no build step.
import { register } from 'tsx/esm/api';

register();
await import('../src/cli/main.ts');
