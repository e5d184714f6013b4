// Training backends for TensorFlow.js: call `await selectBackend(request)` before building a model.
export {
  selectBackend, BackendError, BACKEND_REQUESTS,
  type BackendRequest, type BackendName, type BackendSelection, type BackendSkip,
} from './select.js';
export { registerFastWasmKernels, unregisterFastWasmKernels, fastWasmKernelsRegistered } from './wasm-kernels.js';
export { enableNativeConvKernels, disableNativeConvKernels, type NativeConvState } from './native-kernels.js';
