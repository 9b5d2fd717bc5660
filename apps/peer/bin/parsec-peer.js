#!/usr/bin/env node
// Shim committed so pnpm can link the bin at install time; it runs the built CLI.
// An application may change globals where a library may not: on Node 20 libp2p 3 needs this.
import '@parsec-section/p2p-section/polyfill'
import { main } from '../dist/src/cli.js'

process.exitCode = await main(process.argv.slice(2))
