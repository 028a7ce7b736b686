"""statsmodels Holt-Winters reference forecasts for bench/forecast_accuracy.ts.

Run once with Debian's python3-statsmodels on the series exported by bench/forecast_export.ts:

    npx tsx bench/forecast_export.ts /tmp/forecast_series.json
    /usr/bin/python3 bench/reference/forecast_statsmodels.py /tmp/forecast_series.json \
        bench/reference/forecast_statsmodels.json

Model: ExponentialSmoothing(trend='add', seasonal='add', seasonal_periods=<one day in buckets>),
the textbook additive Holt-Winters with the daily season given (statsmodels is not asked to
find it), heuristic initialisation (the 'estimated' one optimises one start value per season
slot: 288 for 5-minute data), parameters by statsmodels' own optimiser. With fewer than two
days of training data (or a fit that fails) it falls back to Holt's linear trend, as noted per
split in the output.
"""
import json
import sys
import time
import warnings

import numpy as np
import statsmodels
from statsmodels.tsa.holtwinters import ExponentialSmoothing

warnings.filterwarnings("ignore")


def forecast(train, m, h):
    y = np.asarray(train, dtype=float)
    if m >= 2 and len(y) >= 2 * m + 10:
        try:
            model = ExponentialSmoothing(y, trend="add", seasonal="add", seasonal_periods=m,
                                         initialization_method="heuristic")
            return model.fit().forecast(h), "holt_winters"
        except Exception as err:  # noqa: BLE001 - any failure falls back, and is recorded
            note = f"holt_winters failed: {err}"
    else:
        note = "fewer than two cycles"
    model = ExponentialSmoothing(y, trend="add", initialization_method="estimated")
    return model.fit().forecast(h), "holt:" + note


def main():
    series = json.load(open(sys.argv[1]))
    out = {"statsmodels": statsmodels.__version__, "model": "ExponentialSmoothing(trend=add, seasonal=add, seasonal_periods=day, heuristic init)", "series": {}}
    for s in series:
        m = s["horizon"]
        splits = []
        for origin in s["origins"]:
            h = min(s["horizon"], len(s["values"]) - origin)
            t0 = time.time()
            f, used = forecast(s["values"][:origin], m, h)
            splits.append({"origin": origin, "model": used, "seconds": round(time.time() - t0, 3),
                           "forecast": [float(f"{v:.7g}") for v in f]})
            print(s["name"], origin, used, f"{time.time() - t0:.1f}s", file=sys.stderr, flush=True)
        out["series"][s["name"]] = splits
    json.dump(out, open(sys.argv[2], "w"), indent=None, separators=(",", ":"))


if __name__ == "__main__":
    main()
