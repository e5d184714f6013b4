// Training backends for TensorFlow.js: call `await selectBackend(request)` before building a model.
export {
  selectBackend, selectFastestBackend, BackendError, BACKEND_REQUESTS,
  type BackendRequest, type BackendName, type BackendSelection, type BackendSkip, type SelectOptions, type ProbeTiming,
} from './select.js';
export { registerFastWasmKernels, unregisterFastWasmKernels, fastWasmKernelsRegistered } from './wasm-kernels.js';
export { enableNativeConvKernels, disableNativeConvKernels, type NativeConvState } from './native-kernels.js';
