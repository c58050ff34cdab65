/**
 * Events the workflow made, as activities take them in: from recordEvents,
 * and the decisions a step's first tool activity carries (execTool,
 * recordToolResult). Their keys were made in workflow code and reach us as
 * plain strings, as recorded histories hold them.
 */
import { ApplicationFailure } from '@temporalio/activity';
import type { NewEvent as StoredEvent } from '../db/session-records.js';
import { isEventKey, type EventKey } from '../domain/events.js';
import { recordedGateSchema } from '../domain/gate-schema.js';
import type { NewEvent } from './types.js';

/** A key of the one scheme (domain/events.ts, `wf:<n>`, `message:<seq>`) is taken in; any other is refused for good. */
export function workflowKey(key: string): EventKey {
  if (isEventKey(key)) return key;
  throw ApplicationFailure.create({ type: 'InvalidEventKey', message: `event key ${JSON.stringify(key)} is not <source>:<id> (domain/events.ts)`, nonRetryable: true });
}

/** The events checked: each key of the one scheme, each gate in its one shape (also as older workflows sent it). */
export function workflowEvents(events: readonly NewEvent[] | undefined): StoredEvent[] {
  return (events ?? []).map((e) => ({ ...e, key: workflowKey(e.key), ...(e.gate ? { gate: recordedGateSchema.parse(e.gate) } : {}) }));
}
