metadata name = 'Gruppstart storage'
metadata description = 'The storage account of one instance: tables (the data), queues (the stages), and the blob container the Flex Consumption plan deploys from. Entra ID only: shared keys are off.'

@description('Required. Name of the storage account: 3-24 lowercase letters and digits, globally unique.')
@minLength(3)
@maxLength(24)
param name string

@description('Required. Azure region of the account.')
param location string

@description('Optional. Replication. Geo-zone-redundant keeps the data through the loss of a zone or of the region (the paired region is in the same country for Sweden Central and Norway East); at this data volume it costs cents a month.')
@allowed([
  'Standard_LRS'
  'Standard_ZRS'
  'Standard_GRS'
  'Standard_GZRS'
])
param skuName string = 'Standard_GZRS'

@description('Required. Name of the blob container the Function App package is deployed to.')
@minLength(3)
@maxLength(63)
param deploymentContainerName string

@description('Required. Queues to create (the app creates missing ones too).')
param queueNames array

@description('Required. Tables to create (the app creates missing ones too).')
param tableNames array

@description('Optional. Days a deleted blob or container can still be restored. Blobs hold only the app package and timer locks, never personal data.')
@minValue(1)
@maxValue(365)
param blobSoftDeleteDays int = 7

@description('Required. Resource ID of the Log Analytics workspace that receives the tables\' data-plane logs (every read, write and delete); they are kept as long as the workspace keeps logs (its retentionInDays).')
param logAnalyticsWorkspaceId string

@description('Optional. Tags of the resources.')
param tags object = {}

resource storage 'Microsoft.Storage/storageAccounts@2023-05-01' = {
  name: name
  location: location
  tags: tags
  kind: 'StorageV2'
  sku: {
    name: skuName
  }
  properties: {
    // checkov:skip=CKV_AZURE_35: Flex Consumption without a virtual network reaches storage over its public endpoint; access needs an Entra ID token with a data role (shared keys are off).
    // checkov:skip=CKV_AZURE_59: as above: public endpoint needed without a virtual network; anonymous and shared-key access are both disabled.
    accessTier: 'Hot'
    allowBlobPublicAccess: false
    allowSharedKeyAccess: false
    allowCrossTenantReplication: false
    defaultToOAuthAuthentication: true
    minimumTlsVersion: 'TLS1_2'
    supportsHttpsTrafficOnly: true
    publicNetworkAccess: 'Enabled'
    networkAcls: {
      defaultAction: 'Allow'
      bypass: 'AzureServices'
    }
    encryption: {
      keySource: 'Microsoft.Storage'
      requireInfrastructureEncryption: true
      services: {
        blob: {
          enabled: true
          keyType: 'Account'
        }
        file: {
          enabled: true
          keyType: 'Account'
        }
        queue: {
          enabled: true
          keyType: 'Account'
        }
        table: {
          enabled: true
          keyType: 'Account'
        }
      }
    }
  }
}

resource blobService 'Microsoft.Storage/storageAccounts/blobServices@2023-05-01' = {
  parent: storage
  name: 'default'
  properties: {
    deleteRetentionPolicy: {
      enabled: true
      days: blobSoftDeleteDays
    }
    containerDeleteRetentionPolicy: {
      enabled: true
      days: blobSoftDeleteDays
    }
  }
}

resource deploymentContainer 'Microsoft.Storage/storageAccounts/blobServices/containers@2023-05-01' = {
  parent: blobService
  name: deploymentContainerName
  properties: {
    publicAccess: 'None'
  }
}

resource queueService 'Microsoft.Storage/storageAccounts/queueServices@2023-05-01' = {
  parent: storage
  name: 'default'
}

resource queues 'Microsoft.Storage/storageAccounts/queueServices/queues@2023-05-01' = [for queueName in queueNames: {
  parent: queueService
  name: queueName
}]

resource tableService 'Microsoft.Storage/storageAccounts/tableServices@2023-05-01' = {
  parent: storage
  name: 'default'
}

resource tables 'Microsoft.Storage/storageAccounts/tableServices/tables@2023-05-01' = [for tableName in tableNames: {
  parent: tableService
  name: tableName
}]

// The tables hold special-category data (who wants a group about what), so every data-plane read,
// write and delete on them is logged to the workspace, table StorageTableLogs
// (learn.microsoft.com/azure/storage/tables/monitor-table-storage#collection-and-routing). Entries name
// the caller (the app's identity), the operation and the entity's keys, which are random or keyed
// (HMAC), never a name or number. Kept for the workspace's retention (logRetentionDays); a diagnostic
// setting's own retentionPolicy is deprecated and applies to storage destinations only.
resource tableLogs 'Microsoft.Insights/diagnosticSettings@2021-05-01-preview' = {
  name: 'tables-to-log-analytics'
  scope: tableService
  properties: {
    workspaceId: logAnalyticsWorkspaceId
    logs: [
      {
        category: 'StorageRead'
        enabled: true
      }
      {
        category: 'StorageWrite'
        enabled: true
      }
      {
        category: 'StorageDelete'
        enabled: true
      }
    ]
  }
}

@description('The name of the storage account.')
output name string = storage.name

@description('The resource ID of the storage account.')
output resourceId string = storage.id

@description('The blob endpoint, e.g. https://<name>.blob.core.windows.net/.')
output blobEndpoint string = storage.properties.primaryEndpoints.blob
