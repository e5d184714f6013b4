// Headless Chromium as FACTS.md says to run it here: Debian's binary, no outside hosts, fresh profile.
export const CHROMIUM = '/usr/bin/chromium';

/** The flags every browser test and bench starts Chromium with. */
export const CHROMIUM_FLAGS: readonly string[] = [
  '--headless', '--no-sandbox', '--no-first-run', '--disable-background-networking', '--disable-component-update',
  '--disable-sync', '--disable-quic', '--host-resolver-rules=MAP * ~NOTFOUND , EXCLUDE 127.0.0.1',
];

/** A synthetic camera for pages that call getUserMedia. */
export const FAKE_CAMERA_FLAGS: readonly string[] = ['--use-fake-device-for-media-stream', '--use-fake-ui-for-media-stream'];
