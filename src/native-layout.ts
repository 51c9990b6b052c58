// Indices of the Float64Array filled by the native inspect(); must match native/inspect.cc.
export const Field = {
  mode: 0,
  dev: 1,
  ino: 2,
  fdFlags: 3,
  statusFlags: 4,
  socketType: 5,
  domain: 6,
  protocol: 7,
  acceptConn: 8,
  v6Only: 9,
  backlog: 10,
  rdev: 11,
  local: 12,
  peer: 17,
  fsType: 22,
} as const;

/** Number of slots the native inspect() writes. */
export const FIELD_COUNT = 23;
/** Bytes reserved per address (local at 0, peer at ADDRESS_BYTES). */
export const ADDRESS_BYTES = 128;
