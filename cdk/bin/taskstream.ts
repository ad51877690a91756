#!/usr/bin/env node
import { createApp } from '../lib/app';

// Under the CDK CLI the app synthesizes itself when the process ends.
createApp();
