/** Shapes of the JSON the API returns. */

export interface KnowledgeBase {
  name: string;
  embedding_model: string;
  dimension: number;
  count: number;
}

export type JobState = "queued" | "running" | "succeeded" | "partial" | "failed";

export interface Job {
  id: string;
  kb: string;
  kind: string;
  state: JobState;
  created_at: number | null;
  started_at: number | null;
  finished_at: number | null;
  files_total: number;
  files_done: number;
  chunks_embedded: number;
  errors: { path: string; reason: string }[];
  summary: Record<string, unknown> | null;
  message: string | null;
}

export interface KnowledgeBaseDetail {
  name: string;
  embedding_model: string;
  dimension: number;
  chunks: number;
  documents: number;
  failed_documents: number;
  last_job: Job | null;
}

export interface Source {
  id: number;
  origin: "kb" | "web";
  title: string;
  uri: string;
  snippet: string;
  score: number | null;
  doc_id: string | null;
  chunk_id: string | null;
  pages: number[];
  section: string | null;
  site: string | null;
  published_at: string | null;
}

export interface Citation {
  source_id: number;
  title: string;
  uri: string;
  [extra: string]: unknown;
}

export interface DoneData {
  answer: string;
  reasoning: string | null;
  citations: Citation[];
  model: string | null;
  mode: "llm" | "retrieval_only";
  notice: string | null;
  usage: Record<string, unknown>;
  timings: Record<string, unknown>;
  warnings: string[];
}

export interface ApiErrorBody {
  error: { message: string; type: string; code: string; details?: unknown };
}

export type DocumentStatus = "indexed" | "failed";

export interface DocumentInfo {
  doc_id: string;
  name: string;
  source: string;
  type: string;
  pages: number | null;
  chunks: number;
  indexed_at: string | null;
  status: DocumentStatus;
  reason: string | null;
  size: number;
  /** sent over the API (deleting it deletes the file), not indexed from a server folder */
  uploaded: boolean;
}

export interface DocumentPage {
  documents: DocumentInfo[];
  total: number;
  offset: number;
  limit: number;
}

export interface Chunk {
  chunk_id: string;
  doc_id: string;
  text: string;
  pages: number[];
  section: string | null;
  chunk_index: number;
}

export interface ChunkContext {
  chunk: Chunk;
  before: Chunk[];
  after: Chunk[];
  document: DocumentInfo;
}

export type WebMode = "off" | "auto" | "on";

export interface HistoryMessage {
  role: "user" | "assistant";
  content: string;
}

export interface AskRequest {
  question: string;
  kb: string;
  stream: true;
  web: false | "auto" | true;
  history: HistoryMessage[];
  top_k?: number;
}
