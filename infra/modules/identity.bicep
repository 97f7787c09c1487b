metadata name = 'Gruppstart identity'
metadata description = 'The user-assigned managed identity the Function App uses for storage, Key Vault references and Application Insights.'

@description('Required. Name of the user-assigned managed identity.')
@minLength(3)
@maxLength(128)
param name string

@description('Required. Azure region of the identity.')
param location string

@description('Optional. Tags of the resource.')
param tags object = {}

resource identity 'Microsoft.ManagedIdentity/userAssignedIdentities@2023-01-31' = {
  name: name
  location: location
  tags: tags
}

@description('The resource ID of the identity.')
output resourceId string = identity.id

@description('The name of the identity.')
output name string = identity.name

@description('The principal (object) ID of the identity, for role assignments.')
output principalId string = identity.properties.principalId

@description('The client (application) ID of the identity, for DefaultAzureCredential and AzureWebJobsStorage__clientId.')
output clientId string = identity.properties.clientId
