/** Integration tests' global setup: the real services, shared by every test file (see services.ts). */
import type { TestProject } from 'vitest/node';
import { startServices, type ServiceValues } from './services.js';

declare module 'vitest' {
  export interface ProvidedContext {
    services: ServiceValues;
  }
}

export default async function setup(project: TestProject) {
  const services = await startServices('it');
  project.provide('services', services.values);
  return () => services.stop();
}
