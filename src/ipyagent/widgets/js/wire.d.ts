// The typed contract between the Python widgets (ipyagent/widgets/wire.py) and their ES modules.

export type Kind =
  | "system" | "user" | "assistant" | "tool_call" | "tool_result"
  | "notification" | "interruption" | "subagent";

export type DialogState = "idle" | "listening" | "generating" | "emitting";

/** One ledger entry as the ledger view shows it. */
export interface Row {
  i: number; kind: Kind; text: string; more: number; t: number;
  name?: string; status?: string; source?: string; task_id?: string; call_id?: string;
  args?: string; gen?: number; finished?: number;
  p?: number; // position among the entries the view shows
  call?: string; // a tool call's status when no live task says it
  notes?: string; // an answer: what the backend noted about it (the ⓘ line)
}

/** The life of the task a tool call started. */
export interface CallState {
  call_id: string; task_id: string;
  status: "running" | "done" | "failed" | "timeout" | "cancelled";
  start: number; duration: number | null; result: string | null;
  progress: string | null; fraction: number | null;
}

export interface Live { gen: number; text: string }

// kernel -> browser (custom messages of the ledger view; the other widgets use synced traits)
export interface ResetMsg {
  type: "reset"; path: string; total: number; shown: number; counts: Record<string, number>;
  hidden: string[]; query: string; agents: string[]; start: number; newest: boolean; rows: Row[];
  calls: CallState[];
}
export interface RowsMsg { type: "rows"; start: number; shown: number; rows: Row[] }
export interface BatchMsg {
  type: "batch"; rows: Row[]; shown: number; total: number; counts: Record<string, number>;
  calls: CallState[]; live: Live | null; state: DialogState; now: number; agents?: string[];
}
/** A search of a long ledger is under way: `done` of `total` entries read so far. */
export interface SearchingMsg { type: "searching"; query: string; done: number; total: number }
export interface ErrorMsg { type: "error"; text: string }
export type ServerMsg = ResetMsg | RowsMsg | BatchMsg | SearchingMsg | ErrorMsg;

// browser -> kernel (every view says hello when it appears and bye when it goes)
export interface HelloMsg { type: "hello" }
export interface ByeMsg { type: "bye" }
export interface SyncMsg { type: "sync" }
export interface FollowMsg { type: "follow"; path: string }
export interface WindowMsg { type: "window"; start: number; count: number }
export interface FilterMsg { type: "filter"; hidden: string; query: string; anchor?: number }
export interface SendMsg { type: "send"; text: string }
export interface InterruptMsg { type: "interrupt" }
export interface CancelMsg { type: "cancel"; path: string }
export type ClientMsg =
  HelloMsg | ByeMsg | SyncMsg | FollowMsg | WindowMsg | FilterMsg | SendMsg | InterruptMsg | CancelMsg;

// voice widget (voice.js): browser -> kernel; the "mic" frame's PCM16 samples are its one buffer.
// The kernel refuses any other shape (see wire.py parse_voice).
export interface MicMsg { type: "mic"; rate: number; seq?: number }
export interface PlaybackMsg { type: "playback"; chunk: number; played: number; done: boolean }
export interface MicStateMsg { type: "mic_state"; on: boolean }
export interface ReadyMsg { type: "ready" }
export interface StoppedMsg { type: "stopped"; chunks?: number }
export interface BrowserErrorMsg { type: "error"; text: string }
export type VoiceMsg = MicMsg | PlaybackMsg | MicStateMsg | ReadyMsg | StoppedMsg | BrowserErrorMsg;

// synced traits
export interface Notice {
  i: number; agent: string; source: string; text: string; t: number;
  level: "ok" | "error" | "info"; name?: string; task_id?: string;
}
/** `html` (answers only): the Markdown rendered by the kernel (ipyagent/markdown.py). */
export interface ChatLine { i: number; role: "user" | "assistant" | "interruption"; text: string; html?: string; status?: string }
export interface TreeNode {
  path: string; name: string; how: "root" | "fork" | "spawn"; status: string; state: DialogState;
  running: number; task: string; failure: string | null; children: TreeNode[];
}
export interface Timeline {
  t0: number; now: number; real: boolean;
  lanes: { agent: string; kind: "state" | "task"; label: string;
           spans: { s: number; e: number | null; v: string }[] }[];
  marks: { agent: string; t: number; kind: "user" | "notification" | "interruption"; what: string; text: string }[];
  palette: Palette;
}
/** One palette for the timeline and the notebooks' pictures (ipyagent/palette.py). */
export interface Palette {
  states: Record<string, string>; tasks: Record<string, string>;
  marks: Record<string, { mark: string; color: string; label: string }>;
}
