using System.Threading.Channels;
using Monitor.Server.Persistence;

namespace Monitor.Server.Windows;

/// <summary>
/// Stores closed windows off the pipelines' threads: windows queue here and are written in batches, one
/// transaction per batch, so thousands of windows a second cost a handful of commits. A window not yet
/// written when the process is killed is lost from the history (its alerts, state changes and signals are
/// committed by the pipeline itself, before anyone is told); a normal shutdown writes everything.
/// </summary>
internal sealed class WindowWriter : IAsyncDisposable
{
    private const int MaxBatch = 256;

    /// <summary>Windows waiting at most; beyond this (a store far slower than ingest) new windows are dropped from the history and counted.</summary>
    public const int Capacity = 16_384;

    private int _pending;
    private readonly IWindowStore _store;
    private readonly ILogger<WindowWriter> _logger;
    private readonly StoreHealth _health;
    private readonly Channel<Item> _queue = Channel.CreateUnbounded<Item>(new UnboundedChannelOptions { SingleReader = true });
    private readonly Task _loop;

    public WindowWriter(IWindowStore store, StoreHealth health, ILogger<WindowWriter> logger)
    {
        _store = store;
        _logger = logger;
        _health = health;
        _loop = Task.Run(RunAsync);
    }

    public void Enqueue(WindowWrite window)
    {
        if (Interlocked.Increment(ref _pending) > Capacity || !_queue.Writer.TryWrite(new Item(window, null)))
        {
            Interlocked.Decrement(ref _pending);
            _health.Dropped("windows_queue_full");
        }
    }

    /// <summary>Completes once every window queued before it is stored (at once if the writer has stopped).</summary>
    public Task FlushAsync(CancellationToken cancellationToken)
    {
        var done = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        if (_loop.IsCompleted || !_queue.Writer.TryWrite(new Item(null, done)))
        {
            return Task.CompletedTask;
        }

        return done.Task.WaitAsync(cancellationToken);
    }

    public async ValueTask DisposeAsync()
    {
        _queue.Writer.TryComplete();
        await _loop;
    }

    private async Task RunAsync()
    {
        var batch = new List<WindowWrite>(MaxBatch);
        var flushes = new List<TaskCompletionSource>();
        try
        {
            while (await _queue.Reader.WaitToReadAsync())
            {
                while (batch.Count < MaxBatch && _queue.Reader.TryRead(out Item item))
                {
                    if (item.Window is { } window)
                    {
                        Interlocked.Decrement(ref _pending);
                        batch.Add(window);
                    }
                    else
                    {
                        flushes.Add(item.Flushed!);
                        break;
                    }
                }

                if (batch.Count > 0)
                {
                    try
                    {
                        _store.SaveWindows(batch);
                    }
                    catch (Exception ex)
                    {
                        // A window that cannot be stored is lost from the history; the writer goes on with the next.
                        if (StoreHealth.IsStorageFault(ex))
                        {
                            _health.Failed("windows", ex);
                        }

                        Log.WindowsNotStored(_logger, ex, batch.Count);
                    }

                    batch.Clear();
                }

                foreach (TaskCompletionSource flushed in flushes)
                {
                    flushed.TrySetResult();
                }

                flushes.Clear();
            }
        }
        finally
        {
            // Nobody waits forever on a writer that has stopped.
            _queue.Writer.TryComplete();
            foreach (TaskCompletionSource flushed in flushes)
            {
                flushed.TrySetResult();
            }

            while (_queue.Reader.TryRead(out Item left))
            {
                left.Flushed?.TrySetResult();
            }
        }
    }

    private readonly record struct Item(WindowWrite? Window, TaskCompletionSource? Flushed);
}
