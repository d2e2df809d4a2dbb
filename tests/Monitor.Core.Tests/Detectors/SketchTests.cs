using Monitor.Core.Detectors;

namespace Monitor.Core.Tests.Detectors;

public sealed class SketchTests
{
    [Fact]
    public void Count_min_never_undercounts_and_conservative_update_keeps_errors_small()
    {
        var sketch = new CountMinSketch(1 << 12, 4);
        var random = new Random(1);
        var truth = new Dictionary<ulong, uint>();
        for (int i = 0; i < 200_000; i++)
        {
            // Zipf-like keys: a few heavy, many light.
            ulong key = (ulong)(1 / Math.Max(random.NextDouble(), 1e-9)) * 0x9E3779B97F4A7C15UL;
            sketch.Increment(key);
            truth[key] = truth.GetValueOrDefault(key) + 1;
        }

        long overcount = 0;
        foreach ((ulong key, uint count) in truth)
        {
            uint estimate = sketch.Estimate(key);
            Assert.True(estimate >= count, $"estimate {estimate} below the true count {count}");
            overcount += estimate - count;
        }

        // 200,000 increments over 4,096 counters per row: a plain sketch would overcount by about 49 per key.
        Assert.True(overcount / (double)truth.Count < 20, $"mean overcount {overcount / (double)truth.Count:F1}");
    }

    [Fact]
    public void Space_saving_finds_the_heavy_hitters_within_its_capacity()
    {
        var table = new SpaceSaving(100);
        var admission = new CountMinSketch(1 << 12, 4);
        var random = new Random(2);
        var truth = new Dictionary<ulong, long>();
        for (int i = 0; i < 100_000; i++)
        {
            ulong key = (ulong)Math.Min(100_000, (int)(1 / Math.Max(random.NextDouble(), 1e-6)));
            table.Offer(key, admission.Increment(key));
            truth[key] = truth.GetValueOrDefault(key) + 1;
        }

        Assert.Equal(100, table.Count);
        foreach ((ulong key, long count) in truth.OrderByDescending(p => p.Value).Take(10))
        {
            (long estimate, long error) = table.Get(key);
            Assert.True(table.Contains(key), $"heavy hitter {key} ({count}) is missing");
            Assert.InRange(count, estimate - error, estimate);
        }
    }

    [Fact]
    public void A_flood_of_unique_keys_cannot_evict_a_recurring_key_nor_grow_the_table()
    {
        var table = new SpaceSaving(1024);
        var admission = new CountMinSketch(1 << 16, 4);
        const ulong trigger = 0xDEADBEEFUL;
        ulong unique = 1;
        long triggerSeen = 0;
        for (int i = 0; i < 1_000_000; i++)
        {
            ulong key = unique++ * 0x9E3779B97F4A7C15UL;
            table.Offer(key, admission.Increment(key));
            if (i % 10_000 == 0)
            {
                table.Offer(trigger, admission.Increment(trigger));
                triggerSeen++;
            }
        }

        Assert.True(table.Contains(trigger), "the recurring key was evicted by the flood");
        (long count, long error) = table.Get(trigger);
        Assert.True(count - error >= triggerSeen - 2, $"guaranteed count {count - error} of {triggerSeen}");
        Assert.Equal(1024, table.Count);
        Assert.Equal(1 << 18, admission.Size);
    }
}
