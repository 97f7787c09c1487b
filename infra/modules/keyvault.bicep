metadata name = 'Gruppstart Key Vault'
metadata description = 'The Key Vault holding the Twilio auth token and the admin token: RBAC authorisation, soft delete and purge protection, audit events sent to Log Analytics.'

@description('Required. Name of the vault: 3-24 letters, digits and single hyphens, globally unique.')
@minLength(3)
@maxLength(24)
param name string

@description('Required. Azure region of the vault.')
param location string

@description('Required. Resource ID of the Log Analytics workspace that receives the vault\'s audit events (who read or wrote which secret).')
param logAnalyticsWorkspaceId string

@description('Optional. Days a deleted vault or secret can be recovered (purge protection keeps it that long).')
@minValue(7)
@maxValue(90)
param softDeleteRetentionInDays int = 90

@description('Optional. Tags of the resources.')
param tags object = {}

resource vault 'Microsoft.KeyVault/vaults@2023-07-01' = {
  name: name
  location: location
  tags: tags
  properties: {
    // checkov:skip=CKV_AZURE_109: the Function App on Flex Consumption without a virtual network resolves its Key Vault references over the public endpoint, and the operator's az CLI writes the secrets from outside; every call needs an Entra ID token with an RBAC role.
    // checkov:skip=CKV_AZURE_189: as above: public network access is needed without a virtual network.
    tenantId: subscription().tenantId
    sku: {
      family: 'A'
      name: 'standard'
    }
    enableRbacAuthorization: true
    enableSoftDelete: true
    softDeleteRetentionInDays: softDeleteRetentionInDays
    enablePurgeProtection: true
    enabledForDeployment: false
    enabledForDiskEncryption: false
    enabledForTemplateDeployment: false
    publicNetworkAccess: 'Enabled'
    networkAcls: {
      defaultAction: 'Allow'
      bypass: 'AzureServices'
    }
  }
}

resource auditLogs 'Microsoft.Insights/diagnosticSettings@2021-05-01-preview' = {
  name: 'audit-to-log-analytics'
  scope: vault
  properties: {
    workspaceId: logAnalyticsWorkspaceId
    logs: [
      {
        categoryGroup: 'audit'
        enabled: true
      }
    ]
  }
}

@description('The name of the vault.')
output name string = vault.name

@description('The resource ID of the vault.')
output resourceId string = vault.id

@description('The vault URI, e.g. https://<name>.vault.azure.net/.')
output uri string = vault.properties.vaultUri
