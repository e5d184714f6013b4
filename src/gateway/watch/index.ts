// watch: cameras and folders in, frames out (input side); events and sinks are added beside it.
export { backoffDelay, backoffOptions, DEFAULT_BACKOFF, type BackoffOptions } from './backoff.js';
export { Camera, CameraSourceError, CameraStallError, cleanLine, type CameraEvents, type CameraOptions } from './camera.js';
export {
  channelsOf,
  DEFAULT_FPS,
  DEFAULT_TIMEOUT_MS,
  FfmpegNotFoundError,
  ffmpegArgs,
  filterChain,
  findFfmpeg,
  frameBytes,
  sourceKind,
  type FfmpegInputOptions,
  type FrameFormat,
  type PixelFormat,
  type Roi,
  type SourceKind,
} from './ffmpeg.js';
export { FrameReader } from './frames.js';
export type { Frame, FrameSource, SourceState, SourceStats, StateChange } from './source.js';
export { BadImageFileError, FolderSource, FolderSourceError, type FolderSourceEvents, type FolderSourceOptions } from './folder-source.js';
