/** Limits of the control API (kept free of imports so commands can read them cheaply). */
export const API_LIMITS = {
  /** Largest request body. */
  maxBodyBytes: 8 * 1024 * 1024,
  /** Largest payload, decoded. */
  maxPayloadBytes: 1024 * 1024,
  /** Most payloads in one request. */
  maxPayloadsPerRequest: 10_000,
  /** Most transactions in one POST /transactions, and the largest one, decoded. */
  maxTransactionsPerRequest: 50_000,
  maxTransactionBytes: 64 * 1024,
  /** `limit` of GET /transactions: default and maximum (whole blocks: an answer may hold more). */
  defaultTransactionLimit: 10_000,
  maxTransactionLimit: 50_000,
  /** `limit` of GET /blocks: default and maximum. */
  defaultBlockLimit: 1000,
  maxBlockLimit: 10_000,
  /** `wait` of GET /blocks is capped at this. */
  maxWaitMs: 30_000,
} as const
