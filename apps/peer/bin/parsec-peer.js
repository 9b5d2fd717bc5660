#!/usr/bin/env node
// Shim committed so pnpm can link the bin at install time; it runs the built CLI.
import { main } from '../dist/src/cli.js'

process.exitCode = await main(process.argv.slice(2))
