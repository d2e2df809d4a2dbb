using System.Collections.Concurrent;
using Microsoft.Extensions.Options;
using Monitor.Core.Baselines;
using Monitor.Server.Alerting;
using Monitor.Server.Metrics;
using Monitor.Server.Models;
using Monitor.Server.Persistence;
using Monitor.Server.Windows;

namespace Monitor.Server.Ingest;

/// <summary>Every registered model's pipeline, by model name: started by the registry, used by every feature that queues work for a model.</summary>
internal sealed class ModelPipelines : IAsyncDisposable
{
    private readonly ConcurrentDictionary<string, ModelPipeline> _pipelines = new(StringComparer.Ordinal);
    private readonly PipelineContext _context;
    private readonly ILoggerFactory _loggers;
    private int _disposed;

    public ModelPipelines(IWindowStore windowStore, IIncidentStore incidentStore, MonitorMetrics metrics, IOptions<MonitorOptions> options,
        TimeProvider time, ILoggerFactory loggers, Incidents incidents, WindowWriter windows, StoreHealth health,
        Readiness.BaselineReadiness readiness)
    {
        _context = new PipelineContext(windowStore, metrics, new IncidentComposer(incidents, incidentStore, metrics, time),
            options.Value, time, windows, health, readiness);
        _loggers = loggers;
        metrics.Registry.AddBeforeCollectCallback(() =>
        {
            foreach ((string model, ModelPipeline pipeline) in _pipelines)
            {
                metrics.QueueDepth.WithLabels(model).Set(pipeline.Depth);
            }
        });
    }

    /// <summary>Starts the pipeline of a model the registry adds, with <paramref name="baseline"/> in force.</summary>
    public void Start(ModelEntry model, CompiledBaseline? baseline) =>
        _pipelines[model.Name] = new ModelPipeline(model, baseline, _context, _loggers.CreateLogger<ModelPipeline>());

    public ModelPipeline Of(ModelEntry model) => _pipelines[model.Name];

    /// <summary>Drains every pipeline, stores their counters, then the windows still queued for the store.</summary>
    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) == 1)
        {
            return;
        }

        foreach (ModelPipeline pipeline in _pipelines.Values)
        {
            await pipeline.DisposeAsync();
        }

        await _context.Windows.DisposeAsync();
    }
}
