import FolioModels
print("folio")
