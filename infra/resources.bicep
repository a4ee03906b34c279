// The resources of main.bicep, in its resource group.
param environmentName string
param location string
param tags object
param gpuProfileType string
param gpuTiers array
@secure()
param rabbitMqPassword string
param apiImage string
param gpuWorkerImages object

// One source of truth: the AppHost's configuration (scaling policy, tiers) and its manifest (infrastructure images).
var settings = loadJsonContent('../src/Embedding.AppHost/appsettings.json').Embedding
var manifest = loadJsonContent('../aspire-manifest.json').resources
var tiers = filter(settings.Tiers, t => contains(gpuTiers, t.Name))

// Each tier runs on the serverless GPU profile of its own `Gpu` (AppHost appsettings) where Container Apps has that card,
// else on the deployment's default (gpuProfileType). Every profile a tier uses exists in the environment.
func profileOf(gpu string, fallback string) string => contains([ 'T4', 'ACA-T4' ], gpu)
  ? 'Consumption-GPU-NC8as-T4'
  : contains([ 'A100', 'ACA-A100' ], gpu) ? 'Consumption-GPU-NC24-A100' : fallback
var tierProfiles = map(tiers, t => profileOf(t.?Gpu ?? '', gpuProfileType))
var gpuProfiles = union([ gpuProfileType ], tierProfiles)
func profileName(type string) string => contains(type, 'T4') ? 'gpu-t4' : 'gpu-a100'
// T4s have no bf16 and Qwen3-Embedding returns NaN in fp16: run float32 there.
func engineDtype(type string) string => contains(type, 'T4') ? 'float32' : 'bfloat16'
func gpuCpu(type string) string => contains(type, 'T4') ? '8' : '24'
func gpuMemory(type string) string => contains(type, 'T4') ? '56Gi' : '220Gi'
var placeholderImage = 'mcr.microsoft.com/azuredocs/containerapps-helloworld:latest'
var token = toLower(uniqueString(subscription().id, resourceGroup().id, environmentName))

resource logs 'Microsoft.OperationalInsights/workspaces@2023-09-01' = {
  name: 'log-${token}'
  location: location
  tags: tags
  properties: { sku: { name: 'PerGB2018' }, retentionInDays: 30 }
}

// TCP ingress (RabbitMQ, Redis) needs the environment in a virtual network.
resource network 'Microsoft.Network/virtualNetworks@2024-05-01' = {
  name: 'vnet-${token}'
  location: location
  tags: tags
  properties: {
    addressSpace: { addressPrefixes: [ '10.20.0.0/16' ] }
    subnets: [
      {
        name: 'apps'
        properties: {
          addressPrefix: '10.20.0.0/23'
          delegations: [ { name: 'apps', properties: { serviceName: 'Microsoft.App/environments' } } ]
        }
      }
    ]
  }
}

resource identity 'Microsoft.ManagedIdentity/userAssignedIdentities@2023-01-31' = {
  name: 'id-${token}'
  location: location
  tags: tags
}

resource registry 'Microsoft.ContainerRegistry/registries@2023-07-01' = {
  name: 'cr${token}'
  location: location
  tags: tags
  sku: { name: 'Basic' }
  properties: { adminUserEnabled: false }
}

resource acrPull 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(registry.id, identity.id, 'acrpull')
  scope: registry
  properties: {
    principalId: identity.properties.principalId
    principalType: 'ServicePrincipal'
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', '7f951dda-4ed3-4680-a7ca-43fe172d538d')
  }
}

// Model weights live on a file share mounted as the Hugging Face cache: downloaded once, not baked into the
// image, so a replica scaling from zero loads from storage instead of the internet.
resource storage 'Microsoft.Storage/storageAccounts@2023-05-01' = {
  name: 'st${token}'
  location: location
  tags: tags
  kind: 'StorageV2'
  sku: { name: 'Standard_LRS' }
  properties: { minimumTlsVersion: 'TLS1_2', allowBlobPublicAccess: false }
}

resource share 'Microsoft.Storage/storageAccounts/fileServices/shares@2023-05-01' = {
  name: '${storage.name}/default/models'
  properties: { shareQuota: 200 }
}

// Batch jobs (/v1/files, /v1/batches): the API's job database and files, kept across restarts and revisions.
resource batchShare 'Microsoft.Storage/storageAccounts/fileServices/shares@2023-05-01' = {
  name: '${storage.name}/default/batches'
  properties: { shareQuota: 100 }
}

resource environment 'Microsoft.App/managedEnvironments@2025-01-01' = {
  name: 'cae-${token}'
  location: location
  tags: tags
  properties: {
    appLogsConfiguration: {
      destination: 'log-analytics'
      logAnalyticsConfiguration: { customerId: logs.properties.customerId, sharedKey: logs.listKeys().primarySharedKey }
    }
    vnetConfiguration: { infrastructureSubnetId: network.properties.subnets[0].id, internal: false }
    // The GPU profile must exist when the environment is created. Serverless GPU: billed per second while a replica runs.
    workloadProfiles: concat([ { name: 'Consumption', workloadProfileType: 'Consumption' } ],
      map(gpuProfiles, p => { name: profileName(p), workloadProfileType: p }))
  }
}

resource modelStorage 'Microsoft.App/managedEnvironments/storages@2025-01-01' = {
  parent: environment
  name: 'models'
  properties: {
    azureFile: { accountName: storage.name, accountKey: storage.listKeys().keys[0].value, shareName: 'models', accessMode: 'ReadWrite' }
  }
}

resource batchStorage 'Microsoft.App/managedEnvironments/storages@2025-01-01' = {
  parent: environment
  name: 'batches'
  properties: {
    azureFile: { accountName: storage.name, accountKey: storage.listKeys().keys[0].value, shareName: 'batches', accessMode: 'ReadWrite' }
  }
  dependsOn: [ batchShare ]
}

resource messaging 'Microsoft.App/containerApps@2025-01-01' = {
  name: 'messaging'
  location: location
  tags: tags
  properties: {
    environmentId: environment.id
    workloadProfileName: 'Consumption'
    configuration: {
      ingress: {
        external: false
        transport: 'tcp'
        targetPort: 5672
        exposedPort: 5672
        additionalPortMappings: [ { external: false, targetPort: 15672, exposedPort: 15672 } ]
      }
      secrets: [ { name: 'rabbitmq-password', value: rabbitMqPassword } ]
    }
    template: {
      containers: [
        {
          name: 'rabbitmq'
          image: manifest.messaging.image
          env: [
            { name: 'RABBITMQ_DEFAULT_USER', value: 'embedding' }
            { name: 'RABBITMQ_DEFAULT_PASS', secretRef: 'rabbitmq-password' }
          ]
          resources: { cpu: json('1.0'), memory: '2Gi' }
        }
      ]
      scale: { minReplicas: 1, maxReplicas: 1 }
    }
  }
}

resource cache 'Microsoft.App/containerApps@2025-01-01' = {
  name: 'cache'
  location: location
  tags: tags
  properties: {
    environmentId: environment.id
    workloadProfileName: 'Consumption'
    configuration: {
      ingress: { external: false, transport: 'tcp', targetPort: 6379, exposedPort: 6379 }
    }
    template: {
      containers: [ { name: 'redis', image: manifest.cache.image, resources: { cpu: json('0.5'), memory: '1Gi' } } ]
      scale: { minReplicas: 1, maxReplicas: 1 }
    }
  }
}

resource api 'Microsoft.App/containerApps@2025-01-01' = {
  name: 'api'
  location: location
  tags: union(tags, { 'azd-service-name': 'api' })
  identity: { type: 'UserAssigned', userAssignedIdentities: { '${identity.id}': {} } }
  properties: {
    environmentId: environment.id
    workloadProfileName: 'Consumption'
    configuration: {
      ingress: { external: true, targetPort: 8080, transport: 'http' }
      registries: [ { server: registry.properties.loginServer, identity: identity.id } ]
      // Connection strings are composed from the secure password and go straight into Container Apps secrets.
      #disable-next-line use-secure-value-for-secure-inputs
      secrets: [ { name: 'messaging', value: 'amqp://embedding:${rabbitMqPassword}@messaging:5672/' } ]
    }
    template: {
      containers: [
        {
          name: 'api'
          image: empty(apiImage) ? placeholderImage : apiImage
          env: concat([
            { name: 'HTTP_PORTS', value: '8080' }
            { name: 'ConnectionStrings__messaging', secretRef: 'messaging' }
            { name: 'ConnectionStrings__cache', value: 'cache:6379' }
            // The job database on a network share: a rollback journal, not WAL (WAL's shared memory needs a local disk).
            { name: 'Api__Batches__StoragePath', value: '/data/batches' }
            { name: 'Api__Batches__JournalMode', value: 'DELETE' }
          ], flatten(map(range(0, length(tiers)), i => [
            { name: 'Api__Models__${i}__Name', value: tiers[i].Name }
            { name: 'Api__Models__${i}__Dimensions', value: string(tiers[i].Dimensions) }
          ])))
          resources: { cpu: json('1.0'), memory: '2Gi' }
          probes: [ { type: 'Readiness', httpGet: { path: '/health', port: 8080 } } ]
          volumeMounts: [ { volumeName: 'batches', mountPath: '/data/batches' } ]
        }
      ]
      volumes: [ { name: 'batches', storageType: 'AzureFile', storageName: batchStorage.name } ]
      // One replica: the batch store is one SQLite database with one job runner, and every replica must see the same
      // jobs (a batch created on one and read on another would be a 404). The GPU, not the API, is the bottleneck;
      // several API replicas need the store in a shared database first.
      scale: { minReplicas: 1, maxReplicas: 1 }
    }
  }
  dependsOn: [ acrPull ]
}

// One app per GPU tier: the GPU container is the app's first (and only) container. Min replicas come from the
// policy (0): an idle tier costs nothing; a KEDA rabbitmq rule on its queue (management API, so messages a worker
// holds count) brings it back.
resource workers 'Microsoft.App/containerApps@2025-01-01' = [for (tier, i) in tiers: {
  name: 'worker-${replace(tier.Name, '.', '-')}'
  location: location
  tags: union(tags, { 'azd-service-name': 'worker-${replace(tier.Name, '.', '-')}' })
  identity: { type: 'UserAssigned', userAssignedIdentities: { '${identity.id}': {} } }
  properties: {
    environmentId: environment.id
    workloadProfileName: profileName(tierProfiles[i])
    configuration: {
      registries: [ { server: registry.properties.loginServer, identity: identity.id } ]
      // Composed from the secure password, straight into Container Apps secrets (never output).
      secrets: [
        #disable-next-line use-secure-value-for-secure-inputs
        { name: 'messaging', value: 'amqp://embedding:${rabbitMqPassword}@messaging:5672/' }
        #disable-next-line use-secure-value-for-secure-inputs
        { name: 'rabbitmq-management', value: 'http://embedding:${rabbitMqPassword}@messaging:15672/' }
      ]
    }
    template: {
      terminationGracePeriodSeconds: 90
      containers: [
        {
          name: 'gpu-unit'
          image: gpuWorkerImages[?tier.Name] ?? placeholderImage
          env: [
            { name: 'ENGINE_MODEL', value: tier.EngineModel }
            { name: 'ENGINE_DTYPE', value: engineDtype(tierProfiles[i]) }
            { name: 'ENGINE_MEM_FRACTION', value: settings.Gpu.MemFractionStatic }
            { name: 'ENGINE_MAX_RUNNING_REQUESTS', value: settings.Gpu.MaxRunningRequests }
            { name: 'Worker__Model', value: tier.Name }
            { name: 'Worker__OpenAI__Dimensions', value: string(tier.Dimensions) }
            { name: 'Worker__MaxBatchTokens', value: string(tier.MaxBatchTokens) }
            { name: 'Worker__MaxWaitMilliseconds', value: string(tier.MaxWaitMilliseconds) }
            { name: 'ConnectionStrings__messaging', secretRef: 'messaging' }
          ]
          resources: { cpu: json(gpuCpu(tierProfiles[i])), memory: gpuMemory(tierProfiles[i]) }
          volumeMounts: [ { volumeName: 'models', mountPath: '/root/.cache/huggingface' } ]
          probes: [
            // The worker answers /health only once its engine does: readiness is the engine's.
            { type: 'Startup', httpGet: { path: '/health', port: 8080 }, periodSeconds: max(1, union(settings.Scaling, tier.?Scaling ?? {}).StartupSeconds / 10), failureThreshold: 10 }
            { type: 'Readiness', httpGet: { path: '/health', port: 8080 }, periodSeconds: 5 }
          ]
        }
      ]
      volumes: [ { name: 'models', storageType: 'AzureFile', storageName: modelStorage.name } ]
      scale: {
        minReplicas: union(settings.Scaling, tier.?Scaling ?? {}).MinReplicas
        maxReplicas: union(settings.Scaling, tier.?Scaling ?? {}).MaxReplicas
        pollingInterval: union(settings.Scaling, tier.?Scaling ?? {}).PollingIntervalSeconds
        cooldownPeriod: union(settings.Scaling, tier.?Scaling ?? {}).CooldownSeconds
        // Queue depth, and where the tier sets a target publish rate, a second rule on it (the larger count wins).
        rules: concat([
          {
            name: 'queue-depth'
            custom: {
              type: 'rabbitmq'
              metadata: {
                protocol: 'http'
                queueName: 'embed-${toLower(tier.Name)}'
                mode: 'QueueLength'
                value: string(union(settings.Scaling, tier.?Scaling ?? {}).TargetQueueLength)
                activationValue: string(union(settings.Scaling, tier.?Scaling ?? {}).ActivationQueueLength)
                vhostName: '/'
              }
              auth: [ { secretRef: 'rabbitmq-management', triggerParameter: 'host' } ]
            }
          }
        ], (union(settings.Scaling, tier.?Scaling ?? {}).?TargetMessageRate ?? 0) > 0 ? [
          {
            name: 'publish-rate'
            custom: {
              type: 'rabbitmq'
              metadata: {
                protocol: 'http'
                queueName: 'embed-${toLower(tier.Name)}'
                mode: 'MessageRate'
                value: string(union(settings.Scaling, tier.?Scaling ?? {}).TargetMessageRate)
                activationValue: string(union(settings.Scaling, tier.?Scaling ?? {}).?ActivationMessageRate ?? 0)
                vhostName: '/'
              }
              auth: [ { secretRef: 'rabbitmq-management', triggerParameter: 'host' } ]
            }
          }
        ] : [])
      }
    }
  }
  dependsOn: [ acrPull ]
}]

output registryEndpoint string = registry.properties.loginServer
output environmentId string = environment.id
output apiUrl string = 'https://${api.properties.configuration.ingress.fqdn}'
