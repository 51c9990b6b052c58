/**
 * socket-activation: take over sockets inherited from systemd (or the bundled launcher)
 * safely. See README.md for the rules and the error codes.
 * @packageDocumentation
 */
export type { AbstractAddress, InetAddress, NetlinkAddress, RawInetAddress, SocketAddress, UnixPathAddress, UnnamedAddress, VsockAddress } from './address.js';
export { formatAddress } from './address.js';
export { activate, type Activated, type DatagramSpec, type DescriptorSpec, type FifoSpec, type ListenerSpec, type ServerSpec } from './activate.js';
export { bindDatagram, type BindDatagramOptions, type DatagramFallback } from './datagram.js';
export {
  inspect,
  describe,
  type AnonDescriptor,
  type CharDescriptor,
  type ConnectionDescriptor,
  type DatagramDescriptor,
  type Descriptor,
  type DescriptorKind,
  type FifoDescriptor,
  type FileDescriptor,
  type MqueueDescriptor,
  type OtherDescriptor,
  type PathDescriptor,
  type PathFileKind,
  type SocketDescriptor,
  type SocketFamily,
  type SocketProtocol,
  type SocketType,
  type StreamListenerDescriptor,
} from './descriptor.js';
export { LISTEN_FDS_START, LISTEN_VARIABLES } from './environment.js';
export { SocketActivationError, type AddressSystemError, type FdSystemError, type SocketActivationErrorCode } from './errors.js';
export { listen, type Listening, type ListenOptions, type StreamFallback, type StreamServer } from './listen.js';
export { activation, listeners, type Activation, type ActivationOptions, type InheritedDescriptor, type NotActivatedReason } from './registry.js';
export { check, listener, listenersNamed, matches, type Expectation, type Expected } from './select.js';
export { connection, connections, fifo } from './stream.js';
export { KEPT_PREFIX, keepConnection, keptConnections, type KeepOptions, type KeptOptions } from './kept-connections.js';
export { fdStoreLimit, store, storeRemove, type Storable, type StoreOptions } from './fd-store.js';
export { parseNotifyAddress, type NotifyAddress } from './notify-address.js';
export { checkFdName, type NotifyFields, type NotifyValue } from './notify-message.js';
export {
  barrier,
  extendTimeout,
  mainPid,
  notify,
  notifyAddress,
  ready,
  reloading,
  reportErrno,
  status,
  stopping,
  type NotifyOptions,
  type NotifyWithFdsOptions,
} from './notify.js';
export {
  judgeWatchdog,
  setWatchdogTimeout,
  startWatchdog,
  watchdogEnabled,
  watchdogPing,
  watchdogTrigger,
  type Watchdog,
  type WatchdogOptions,
  type WatchdogVerdict,
} from './watchdog.js';
export {
  drain,
  drainOnSignal,
  trackConnections,
  type DrainOnSignalOptions,
  type DrainOptions,
  type DrainReport,
  type HandOff,
} from './drain.js';
export { controlPath } from './control-path.js';
export { hotUpgrade, type HotUpgradeOptions, type Upgrader, type UpgradeOutcome } from './upgrade.js';
import './handoff-channel.js';
