/**
 * Counts and reads of a Temporal history's events that tests check: activities scheduled by type, and what
 * the SDK's markers record (local activities, patches).
 */
import type { temporal } from '@temporalio/proto';

type HistoryEvent = temporal.api.history.v1.IHistoryEvent;

/** How many activities of `type` the history scheduled (a local activity is a marker, not one of these). */
export function activitiesScheduled(events: readonly HistoryEvent[], type: string): number {
  return events.filter((e) => e.activityTaskScheduledEventAttributes?.activityType?.name === type).length;
}

/** The JSON payloads under `key` of the markers named `markerName`, in history order. */
function markerData(events: readonly HistoryEvent[], markerName: string, key: string): Record<string, unknown>[] {
  return events.flatMap((e) => {
    const attrs = e.markerRecordedEventAttributes;
    if (attrs?.markerName !== markerName) return [];
    return (attrs.details?.[key]?.payloads ?? []).map((p) => JSON.parse(Buffer.from(p.data ?? new Uint8Array()).toString('utf8')) as Record<string, unknown>);
  });
}

/** The change ids (patched()) the history's markers record. */
export function patchIds(events: readonly HistoryEvent[]): string[] {
  return markerData(events, 'core_patch', 'patch-data').map((d) => String(d.id));
}

/** The activity type of each local activity the history recorded (one marker each). */
export function localActivityTypes(events: readonly HistoryEvent[]): string[] {
  return markerData(events, 'core_local_activity', 'data').map((d) => String(d.activity_type));
}
