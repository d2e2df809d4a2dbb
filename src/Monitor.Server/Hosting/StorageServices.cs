using Monitor.Server.Alerting;
using Monitor.Server.Baselines;
using Monitor.Server.Delivery;
using Monitor.Server.Models;
using Monitor.Server.Persistence;
using Monitor.Server.Registry;
using Monitor.Server.Windows;

namespace Monitor.Server.Hosting;

/// <summary>The SQLite database and a store per aggregate; each feature takes the store interfaces it uses.</summary>
internal static class StorageServices
{
    public static IServiceCollection AddSqliteStorage(this IServiceCollection services)
    {
        services.AddSingleton<SqliteDatabase>();
        services.AddSingleton<StoreHealth>();
        services.AddSingleton<IModelStore, SqliteModelStore>();
        services.AddSingleton<IBaselineStore, SqliteBaselineStore>();
        services.AddSingleton<IWindowStore, SqliteWindowStore>();
        services.AddSingleton<IIncidentStore, SqliteIncidentStore>();
        services.AddSingleton<IOutboxStore, SqliteOutboxStore>();
        services.AddSingleton<WindowWriter>();
        services.AddSingleton<Models.SqliteReferenceStore>();
        return services;
    }
}
