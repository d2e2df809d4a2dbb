# Tallies the rows of an `evaluate --real --clean-runs` output for "digits: clean known-good" (runs with a critical
# finding, Clopper-Pearson 95% interval, versions not left known-good) when the run stopped before its summary table.
# Usage: /usr/bin/python3 docs/evaluation/tally_clean_runs.py OUTPUT.txt  (the missing-seed list assumes seeds 3001-3200)
import re,sys
from scipy.stats import beta
lines=[l for l in open(sys.argv[1]) if re.match(r"  seed \d+: digits: clean known-good, held-out traffic: -;",l)]
n=len(lines); crit=0; notgood=0; seeds=[]
for l in lines:
    s=int(re.match(r"  seed (\d+)",l).group(1)); seeds.append(s)
    fc=int(re.search(r"false critical (\d+)",l).group(1)); end=re.search(r"ends ([a-z -]+);",l).group(1)
    crit+= fc>0; notgood+= end!="known-good"
lo=0.0 if crit==0 else beta.ppf(0.025,crit,n-crit+1); hi=beta.ppf(0.975,crit+1,n-crit) if crit<n else 1.0
print(f"runs {n} seeds {min(seeds)}-{max(seeds)} (distinct {len(set(seeds))}) with critical {crit} share {crit/n:.2%} 95% CI {lo:.2%}-{hi:.2%} not known-good {notgood}")
missing=sorted(set(range(3001,3201))-set(seeds)); print("missing", len(missing), missing[:5], missing[-5:] if missing else "")
