// One progress shape for every long operation (train, trainInBrowser, export, exportInBrowser,
// quantize, eval, loadDataset): `onProgress(event)` with an object whose `kind` says what happened.
// Training adds its own kinds (start, step, epoch, …); everything else reports stages.

/** A stage began or advanced; counted stages carry done/total. */
export interface StageEvent {
  kind: 'stage';
  stage: string;
  done?: number;
  total?: number;
}
