// GANomaly losses, as in the reference (lib/loss.py + nn.L1Loss/nn.BCELoss).
import * as tf from '@tensorflow/tfjs';

/** mean((a − b)²): the reference's l2_loss, used for the adversarial (feature) and encoder terms. */
export function l2Loss(a: tf.Tensor, b: tf.Tensor): tf.Scalar {
  return tf.tidy(() => a.sub(b).square().mean() as tf.Scalar);
}

/** mean|a − b|: nn.L1Loss, the contextual (reconstruction) term. */
export function l1Loss(a: tf.Tensor, b: tf.Tensor): tf.Scalar {
  return tf.tidy(() => a.sub(b).abs().mean() as tf.Scalar);
}

/**
 * nn.BCELoss(sigmoid(logits), target) computed from logits: softplus(−l) for target 1,
 * softplus(l) for 0. Same value, without log(0) when D saturates.
 */
export function bceWithLogits(logits: tf.Tensor1D, target: 0 | 1): tf.Scalar {
  return tf.tidy(() => tf.softplus(target === 1 ? logits.neg() : logits).mean() as tf.Scalar);
}
