"""Makes own_rate.json: a baseline key's own tail-hit rate as the whole-output test takes it (KeyOutputTest.ServedBeyondStrata and
OwnRateBound), from scipy: the binomial chance of `hits` or more among `support` records at the strata's allowance `p`
(scipy.stats.binom.sf(hits - 1, support, p)), and Wilson's score upper bound at z = 3 (the 99.73% two-sided interval of
scipy.stats.binomtest(hits, support).proportion_ci(confidence, 'wilson'), confidence = 1 - 2 * norm.sf(3)).

Run with /usr/bin/python3 (scipy from Debian).
"""
import json
from scipy.stats import binom, binomtest, norm

confidence = 1 - 2 * norm.sf(3)
cases = []
for hits, support, p in [(2, 5, 0.03), (8, 8, 0.01), (4, 5, 0.02), (21, 21, 0.023), (3, 200, 0.001), (10, 400, 0.005), (17, 17, 0.016),
                         (1, 1, 0.5), (30, 60, 0.1)]:
    ci = binomtest(hits, support).proportion_ci(confidence, "wilson")
    cases.append({"hits": hits, "support": support, "p": p, "chance": float(binom.sf(hits - 1, support, p)), "upper": float(ci.high)})

with open("own_rate.json", "w") as out:
    json.dump({"cases": cases}, out, indent=1)
