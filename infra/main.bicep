// Azure Container Apps deployment for `azd up`: a Container Apps environment with a serverless GPU workload profile,
// RabbitMQ and Redis as internal apps, the API, and one app per GPU tier (SGLang + worker in one GPU container,
// deploy/gpu-worker/Dockerfile) that scales from its queue down to zero. Scaling values, tiers and infrastructure
// images are read at compile time from the same files the AppHost uses, so there is one policy, not two.
targetScope = 'subscription'

@minLength(1)
@maxLength(64)
@description('azd environment name; prefixes every resource.')
param environmentName string

@minLength(1)
@description('Region with serverless GPU capacity (e.g. westus3, swedencentral, australiaeast).')
param location string

@description('Default serverless GPU workload profile, for tiers whose Gpu setting names no card Container Apps offers: Consumption-GPU-NC8as-T4 (16 GB, no bf16) or Consumption-GPU-NC24-A100 (80 GB).')
@allowed([ 'Consumption-GPU-NC8as-T4', 'Consumption-GPU-NC24-A100' ])
param gpuProfileType string = 'Consumption-GPU-NC24-A100'

@description('GPU tiers to deploy (names from Embedding:Tiers in the AppHost configuration).')
param gpuTiers array = [ 'qwen3-embedding-4b' ]

@secure()
@description('RabbitMQ password (azd asks once and keeps it in the environment).')
param rabbitMqPassword string

@description('Images azd builds and pushes; placeholders until the first `azd deploy`.')
param apiImage string = ''
param gpuWorkerImages object = {}

var tags = { 'azd-env-name': environmentName }

resource group 'Microsoft.Resources/resourceGroups@2024-03-01' = {
  name: 'rg-${environmentName}'
  location: location
  tags: tags
}

module resources 'resources.bicep' = {
  name: 'resources'
  scope: group
  params: {
    environmentName: environmentName
    location: location
    tags: tags
    gpuProfileType: gpuProfileType
    gpuTiers: gpuTiers
    rabbitMqPassword: rabbitMqPassword
    apiImage: apiImage
    gpuWorkerImages: gpuWorkerImages
  }
}

output AZURE_CONTAINER_REGISTRY_ENDPOINT string = resources.outputs.registryEndpoint
output AZURE_CONTAINER_APPS_ENVIRONMENT_ID string = resources.outputs.environmentId
output AZURE_RESOURCE_GROUP string = group.name
output EMBEDDING_API_URL string = resources.outputs.apiUrl
