using System.Diagnostics;

namespace Monitor.Cli.Terminal;

/// <summary>
/// Progress of long work on standard error: on a terminal a bar redrawn in place (at most ten times a second),
/// elsewhere (a pipe, a CI log) one line per tenth of the work.
/// </summary>
internal sealed class ProgressBar(Console console, string unit, bool enabled)
{
    private const int Width = 30;
    private readonly Stopwatch _clock = Stopwatch.StartNew();
    private long _lastDrawMs = -1000;
    private int _lastTenth;
    private int _drawnLength;

    public TimeSpan Elapsed => _clock.Elapsed;

    /// <summary>
    /// Reports that <paramref name="done"/> units are done, which is about <paramref name="fraction"/> of the work
    /// (a file's buffered reads run ahead of the rows handled, so 100% waits for <see cref="Complete"/>).
    /// </summary>
    public void Report(double fraction, long done) => Draw(Math.Min(double.IsFinite(fraction) ? fraction : 0, 0.999), done);

    /// <summary>Draws the finished bar with the final count, and ends its line.</summary>
    public void Complete(long done)
    {
        Draw(1, done);
        Finish();
    }

    private void Draw(double fraction, long done)
    {
        if (!enabled)
        {
            return;
        }

        fraction = Math.Clamp(fraction, 0, 1);
        double seconds = _clock.Elapsed.TotalSeconds;
        string rate = seconds > 0.2 ? $"  {Text.Count((long)(done / seconds))} {unit}/s" : "";
        string eta = fraction is > 0.01 and < 1 && seconds > 0.5 ? $"  about {Remaining(seconds * (1 - fraction) / fraction)} left" : "";
        if (console.Interactive)
        {
            long now = _clock.ElapsedMilliseconds;
            if (now - _lastDrawMs < 100 && fraction < 1)
            {
                return;
            }

            _lastDrawMs = now;
            int filled = (int)Math.Round(fraction * Width);
            string line = $"\r[{new string('#', filled)}{new string('-', Width - filled)}] {Percent(fraction)}  {Text.Count(done)} {unit}{rate}{eta}";
            console.Error.Write(line.PadRight(_drawnLength));
            _drawnLength = line.Length;
            return;
        }

        int tenth = (int)Math.Floor(fraction * 10);
        if (tenth > _lastTenth)
        {
            _lastTenth = tenth;
            console.Error.WriteLine($"{Percent(fraction)}  {Text.Count(done)} {unit}{rate}");
        }
    }

    /// <summary>Ends the bar's line, so what follows starts on a fresh one.</summary>
    public void Finish()
    {
        if (enabled && console.Interactive && _drawnLength > 0)
        {
            console.Error.WriteLine();
            _drawnLength = 0;
        }
    }

    /// <summary>Whole percent done, rounded down: 100% only when all is done.</summary>
    private static string Percent(double fraction) => $"{Math.Floor(fraction * 100).ToString(Text.Culture),3}%";

    private static string Remaining(double seconds) =>
        seconds < 90 ? $"{Math.Ceiling(seconds):0} s" : seconds < 5400 ? $"{Math.Ceiling(seconds / 60):0} min" : $"{seconds / 3600:0.0} h";
}
