#!/usr/bin/env node
// Entry point of the `vigil` command: loads the TypeScript sources through tsx's ESM loader,
// so `npx vigil` runs the project as it is checked out, with no build step.
import { register } from 'tsx/esm/api'

register()
await import('../cli/main.ts')
