/** Kysely's view of the artifacts table (0008_artifacts); the queries are in db/artifacts.ts. */
import type { ColumnType, Generated } from 'kysely';

/** A session started from another's workspace tarball (0008_artifacts). */
export interface SessionWorkspaceSourcesTable {
  session_id: string;
  tenant_id: string;
  from_session_id: string;
  sha256: string;
  created_at: ColumnType<Date, Date | string | undefined, never>;
}

export type ArtifactKind = 'tool_output' | 'result' | 'workspace';

export interface ArtifactsTable {
  id: Generated<string>;
  tenant_id: string;
  session_id: string | null;
  step: number | null;
  /** Unique per tenant and session: what wrote the row (`tool-output:<seq>:stdout`, `workspace`, `result:<path>`). */
  ref: string;
  kind: ArtifactKind;
  /** What people and the model read it as: a file path, `stdout of call 12`. */
  name: string;
  sha256: string;
  /** bigint: pg answers it as a string. */
  size_bytes: ColumnType<string, number, number>;
  media_type: string;
  storage_key: string;
  tier: ColumnType<'hot' | 'cold', 'hot' | 'cold' | undefined, 'hot' | 'cold'>;
  retention_class: string | null;
  legal_hold: ColumnType<boolean, boolean | undefined, boolean>;
  created_at: ColumnType<Date, Date | string | undefined, never>;
  expires_at: Date | null;
}

/** An artifact row the retention pass deleted (0013_artifact_expiry): a download of it is a 410, not a 404. */
export interface ExpiredArtifactsTable {
  id: Generated<string>;
  tenant_id: string;
  session_id: string | null;
  sha256: string;
  kind: string;
  name: string;
  size_bytes: ColumnType<string, number, number>;
  created_at: Date;
  expired_at: Date;
}

/** A legal hold on one session (0013_artifact_expiry): its artifacts never expire while it is there. */
export interface SessionLegalHoldsTable {
  tenant_id: string;
  session_id: string;
  reason: string;
  held_by: string;
  held_at: ColumnType<Date, Date | string | undefined, never>;
}
