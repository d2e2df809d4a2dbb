# syntax=docker/dockerfile:1
# Multi-stage build of the drift monitor sidecar: SDK to build, ASP.NET runtime to run, as a non-root user.

FROM mcr.microsoft.com/dotnet/sdk:10.0 AS build
WORKDIR /src
# Restore first, from the project files alone, so the layer is reused while only sources change.
COPY global.json Directory.Build.props Directory.Packages.props .editorconfig Monitor.sln ./
COPY protos/ protos/
COPY src/Monitor.Core/Monitor.Core.csproj src/Monitor.Core/
COPY src/Monitor.Server/Monitor.Server.csproj src/Monitor.Server/
COPY src/Monitor.Cli/Monitor.Cli.csproj src/Monitor.Cli/
RUN dotnet restore src/Monitor.Server/Monitor.Server.csproj && dotnet restore src/Monitor.Cli/Monitor.Cli.csproj
COPY src/ src/
RUN dotnet publish src/Monitor.Server/Monitor.Server.csproj -c Release -o /app --no-restore \
 && dotnet publish src/Monitor.Cli/Monitor.Cli.csproj -c Release -o /cli --no-restore

FROM mcr.microsoft.com/dotnet/aspnet:10.0 AS runtime
WORKDIR /app
COPY --from=build /app .
# The operators' command line, for `kubectl exec … -- drift verdict -m <model>` (it runs on the same runtime).
COPY --from=build /cli /cli
RUN printf '#!/bin/sh\nexec dotnet /cli/drift.dll "$@"\n' > /usr/local/bin/drift && chmod 755 /usr/local/bin/drift
# The database lives on a volume owned by the image's non-root user (APP_UID, 1654).
RUN mkdir -p /data && chown "$APP_UID" /data
USER $APP_UID
ENV Monitor__Grpc__Address=0.0.0.0 \
    Monitor__Grpc__Port=50051 \
    Monitor__Http__Address=0.0.0.0 \
    Monitor__Http__Port=9464 \
    Monitor__Database__Path=/data/monitor.db
VOLUME /data
# Listening on every interface needs credentials: the sidecar refuses to start in development mode (no keys) on a
# non-loopback address, and says so. Give them from a secret, e.g.
#   Monitor__Security__Keys__0__Name=checkout Monitor__Security__Keys__0__Token=<key> Monitor__Security__Keys__0__Roles=ingest
# and TLS with Monitor__Security__Tls__CertificatePath / KeyPath (ClientCaPath for mutual TLS).
# 50051: gRPC (HTTP/2, plaintext unless TLS is configured: Admin, Mirror, Reports, Alerts, Rollbacks, grpc.health.v1, reflection)
# 9464:  HTTP/1.1 (/metrics, /healthz, /api/v1/verdict/..., /api/v1/flagger/rollback)
EXPOSE 50051 9464
ENTRYPOINT ["dotnet", "Monitor.Server.dll"]
