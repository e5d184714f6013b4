// Evaluation: metrics, charts, and evaluateModel (the library side of `ganomaly eval`).
export { EvalError } from './errors.js';
export { averagePrecision, confusionAt, rocAuc, rocCurve, scoreMetrics, trapezoid } from './metrics.js';
export type { ConfusionAtThreshold, RocCurve, ScoreMetrics } from './metrics.js';
export { histogramSvg, rocSvg, svgToPng, type HistogramInput, type RocSeries } from './plots.js';
export { quantileRank, matchingThreshold } from './thresholds.js';
export { evaluateModel } from './evaluate.js';
export type { EvalReport, EvalResult, EvalStage, EvaluateOptions, MetricsBlock } from './evaluate.js';
export { writeEvalOutputs } from './outputs.js';
export { formatPrecisionTable, formatSummary } from './summary.js';
