/**
 * Cross-validation by NAB category: the honest figure for a detector whose constants were chosen
 * on NAB's files. The folds are NAB's seven data categories (artificialNoAnomaly,
 * artificialWithAnomaly, realAWSCloudwatch, realAdExchange, realKnownCause, realTraffic,
 * realTweets), fixed before any tuning: a category is a kind of source, so holding one out
 * asks "how does this do on a kind of series it was not tuned on", which is what users do.
 *
 * For each held-out category, everything that was tuned — which candidate configuration, and
 * each profile's threshold — is chosen on the other categories' files only (NAB's own sweep,
 * run on the training files), then the held-out files are scored at that fixed threshold. The
 * held-out category is never looked at while choosing. A category without anomaly windows
 * (artificialNoAnomaly) has no normalised score; its false-positive rows are reported instead,
 * and it still counts in the training folds of the others.
 */
import { NAB_PROFILES, scoreNab, type NabFileInput, type NabProfile, type NabResult } from './nab_score.js';

export interface CvCandidate {
  label: string;
  /** One input per file, in the same file order for every candidate. */
  inputs: NabFileInput[];
}

export interface FoldOutcome {
  category: string;
  files: number;
  windows: number;
  /** Per profile: the candidate chosen on the training folds. */
  chosen: string[];
  /** Per profile: the held-out result at the training threshold. */
  heldOut: NabResult[];
}

export interface CvSummary {
  folds: FoldOutcome[];
  /** Per profile: mean normalised score over the folds that have windows. */
  mean: number[];
  /** Per profile: the lowest held-out fold score. */
  worst: number[];
  /**
   * Per profile: all held-out folds scored as one corpus (raw scores summed, normalised over all
   * their windows) — the closest analogue of NAB's single figure on a new set of files.
   */
  pooled: number[];
}

export function categoryOf(fileName: string): string {
  const slash = fileName.indexOf('/');
  return slash < 0 ? '' : fileName.slice(0, slash);
}

/** The candidate and threshold that maximise one profile's score on `files`, NAB-style. */
export function chooseOnTraining(candidates: readonly CvCandidate[], keep: (fileIndex: number) => boolean, profile: NabProfile): { index: number; threshold: number; normalised: number } {
  let best = { index: 0, threshold: Infinity, normalised: -Infinity };
  candidates.forEach((c, index) => {
    const r = scoreNab(c.inputs.filter((_, i) => keep(i)), [profile])[0]!;
    if (r.normalised > best.normalised) best = { index, threshold: r.threshold, normalised: r.normalised };
  });
  return best;
}

export function crossValidateByCategory(candidates: readonly CvCandidate[], profiles: readonly NabProfile[] = NAB_PROFILES): CvSummary {
  const names = candidates[0]!.inputs.map((f) => f.name);
  const categories = [...new Set(names.map(categoryOf))].sort();
  const folds: FoldOutcome[] = [];
  for (const category of categories) {
    const inFold = (i: number): boolean => categoryOf(names[i]!) === category;
    const chosen: string[] = [];
    const heldOut: NabResult[] = [];
    for (const profile of profiles) {
      const pick = chooseOnTraining(candidates, (i) => !inFold(i), profile);
      chosen.push(candidates[pick.index]!.label);
      const test = candidates[pick.index]!.inputs.filter((_, i) => inFold(i));
      heldOut.push(scoreNab(test, [profile], [pick.threshold])[0]!);
    }
    const testFiles = candidates[0]!.inputs.filter((_, i) => inFold(i));
    folds.push({ category, files: testFiles.length, windows: testFiles.reduce((a, f) => a + f.windows.length, 0), chosen, heldOut });
  }
  const scored = folds.filter((f) => f.windows > 0);
  const totalWindows = scored.reduce((a, f) => a + f.windows, 0);
  const mean = profiles.map((_, k) => scored.reduce((a, f) => a + f.heldOut[k]!.normalised, 0) / scored.length);
  const worst = profiles.map((_, k) => Math.min(...scored.map((f) => f.heldOut[k]!.normalised)));
  const pooled = profiles.map((p, k) => {
    // raw = Σ fold raws; null = −A_FN·windows; perfect = A_TP·windows (as scoreNab normalises).
    const raw = folds.reduce((a, f) => a + f.heldOut[k]!.raw, 0);
    return (100 * (raw + p.fn * totalWindows)) / ((p.tp + p.fn) * totalWindows);
  });
  return { folds, mean, worst, pooled };
}
