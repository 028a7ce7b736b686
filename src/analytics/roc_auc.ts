/**
 * ROC AUC by the rank-sum (Mann–Whitney U) formula with average ranks for ties, as
 * sklearn.metrics.roc_auc_score computes it; used to check isolation-forest quality.
 */
export function rocAuc(scores: ArrayLike<number>, labels: ArrayLike<number>): number {
  const n = scores.length;
  if (labels.length !== n) throw new RangeError(`rocAuc: scores.length=${n} differs from labels.length=${labels.length}`);
  const order = Array.from({ length: n }, (_, i) => i).sort((a, b) => scores[a]! - scores[b]!);
  let rankSumPositives = 0;
  let positives = 0;
  for (let i = 0; i < n; ) {
    let j = i;
    while (j + 1 < n && scores[order[j + 1]!] === scores[order[i]!]) j++;
    const rank = (i + j) / 2 + 1;
    for (let k = i; k <= j; k++) {
      if (labels[order[k]!] === 1) {
        rankSumPositives += rank;
        positives++;
      }
    }
    i = j + 1;
  }
  const negatives = n - positives;
  if (positives === 0 || negatives === 0) throw new RangeError(`rocAuc: needs both classes; got ${positives} positives, ${negatives} negatives`);
  return (rankSumPositives - (positives * (positives + 1)) / 2) / (positives * negatives);
}
